package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestDiskFullLosesNothing (issue 10 item 3): the flow log's disk fills
// up under traffic. /healthz stays 200 but says degraded and names the
// error, `vxtap status` shows the sink's errors, and no record is lost or
// doubled: once space is freed the held records land, after a SIGKILL
// during the outage the next run writes them, and a stop during the
// outage leaves the program attached for the next run to write them.
// `vxtap report` reads the log without a bad line.
func TestDiskFullLosesNothing(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	src := testutil.Netns(t, "vxpl-dsrc")
	app := testutil.Netns(t, "vxpl-dapp")
	iface, dst := testutil.VXLANPair(t, src, app, 78, 78)
	t.Cleanup(func() { inNetns(t, app, func() { loader.Detach(iface) }) })
	disk := testutil.Tmpfs(t, 1<<20)
	flowLog := filepath.Join(disk, "flows.json")
	filler := filepath.Join(disk, "filler")
	health := func() string {
		argv := testutil.InNetns(app, "curl", "-s", "-w", " %{http_code}", "http://127.0.0.1:9783/healthz")
		out, _ := exec.Command(argv[0], argv[1:]...).Output()
		return strings.TrimSpace(string(out))
	}
	status := func() string {
		argv := testutil.InNetns(app, bin, "status", "--iface", iface)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+runDir)
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	// The state directory is elsewhere: only the flow log's disk is full.
	state := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:9783"}

	// An outage that ends while the daemon runs.
	d := startDaemon(t, bin, app, iface, flowLog, state...)
	testutil.Fill(t, filler)
	a := <-sendUDP(t, src, dst, 5101, 2*time.Second)
	time.Sleep(2500 * time.Millisecond) // past the 2 s idle timeout: records are due
	if h := health(); !strings.HasSuffix(h, " 200") || !strings.Contains(h, "degraded") || !strings.Contains(h, "no space left") {
		t.Errorf("/healthz with the flow log's disk full: %q, want 200 degraded naming ENOSPC", h)
	}
	if st := status(); !strings.Contains(st, "no space left") || !strings.Contains(st, "jsonl:"+flowLog+" (durable)") {
		t.Errorf("vxtap status does not show the failing sink:\n%s", st)
	}
	if got, _ := recordsFor(t, flowLog, 5101); got != 0 {
		t.Errorf("%d packets written to a full disk?", got)
	}
	os.Remove(filler)
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got, _ := recordsFor(t, flowLog, 5101); got == uint64(a) {
			break
		}
	}
	if got, _ := recordsFor(t, flowLog, 5101); got != uint64(a) {
		t.Fatalf("after space was freed the records carry %d packets, %d were sent", got, a)
	}
	if h := health(); !strings.HasPrefix(h, "ok") || !strings.HasSuffix(h, " 200") {
		t.Errorf("/healthz after recovery: %q", h)
	}

	// An outage during which the daemon is killed.
	testutil.Fill(t, filler)
	b := <-sendUDP(t, src, dst, 5102, 2*time.Second)
	time.Sleep(2500 * time.Millisecond)
	d.stop(t, syscall.SIGKILL)
	os.Remove(filler)
	d = startDaemon(t, bin, app, iface, flowLog, state...)
	time.Sleep(500 * time.Millisecond)
	d.stop(t, syscall.SIGTERM)
	if got, recs := recordsFor(t, flowLog, 5102); got != uint64(b) {
		t.Fatalf("after a SIGKILL during the outage the records carry %d packets (%d records), %d were sent", got, recs, b)
	}
	if got, _ := recordsFor(t, flowLog, 5101); got != uint64(a) {
		t.Fatalf("the first flow now carries %d packets, %d were sent", got, a)
	}

	// A stop (SIGTERM) during an outage: the records cannot be stored, so
	// the program stays attached and the exit is a failure; the next run,
	// with space, writes them.
	d = startDaemon(t, bin, app, iface, flowLog, state...)
	testutil.Fill(t, filler)
	// Twenty flows: their records overflow the slack of the flow log's
	// last page (an append that fits there needs no free space).
	var sends []<-chan int
	for p := 5103; p < 5123; p++ {
		sends = append(sends, sendUDP(t, src, dst, p, time.Second))
	}
	c := 0
	for _, ch := range sends {
		c += <-ch
	}
	// Until a batch failed: a small append can still fit in the file's
	// last page of a full tmpfs.
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && !strings.Contains(health(), "degraded"); {
		time.Sleep(100 * time.Millisecond)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err == nil {
		t.Errorf("vxtap run exited 0 with records it could not store:\n%s", d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), "leaving the program attached") || !pinnedIn(t, app, iface) {
		t.Errorf("a stop that could not store its records detached the program:\n%s", d.stderr.String())
	}
	os.Remove(filler)
	d = startDaemon(t, bin, app, iface, flowLog, state...)
	time.Sleep(300 * time.Millisecond)
	d.stop(t, syscall.SIGTERM)
	var got uint64
	for p := uint16(5103); p < 5123; p++ {
		n, _ := recordsFor(t, flowLog, p)
		got += n
	}
	if got != uint64(c) {
		t.Fatalf("after a stop during the outage the records carry %d packets, %d were sent", got, c)
	}
	if pinnedIn(t, app, iface) {
		t.Error("the clean stop after the outage left the program pinned")
	}
	rep := exec.Command(bin, "report", flowLog)
	if out, err := rep.CombinedOutput(); err != nil {
		t.Errorf("vxtap report: %v\n%s", err, out)
	}
	t.Logf("disk full: %d + %d + %d packets sent, all in the flow log once", a, b, c)
}
