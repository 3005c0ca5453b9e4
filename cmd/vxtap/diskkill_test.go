package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestDiskFullFreedThenKilled reproduces the soak's doubled flows end to
// end: the flow log's disk fills under traffic, is freed, and the daemon
// is SIGKILLed within the sink's retry window (the held batch lands, or
// not yet, or a few more batches after it), then started again; four
// times, at different delays after the free. The traffic is a new
// one-packet flow every 20 ms, so the last batches hold flows still in
// the table whose first packet is also their last (the coarse clock).
// Every flow must be in the records exactly once.
func TestDiskFullFreedThenKilled(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	src := testutil.Netns(t, "vxdk-src")
	app := testutil.Netns(t, "vxdk-app")
	iface, dst := testutil.VXLANPair(t, src, app, 79, 79)
	t.Cleanup(func() { inNetns(t, app, func() { loader.Detach(iface) }) })
	disk := testutil.Tmpfs(t, 1<<20)
	flowLog := filepath.Join(disk, "flows.json")
	filler := filepath.Join(disk, "filler")
	state := []string{"--state-dir", filepath.Join(t.TempDir(), "state"), "--listen", "127.0.0.1:9784"}
	d := startDaemon(t, bin, app, iface, flowLog, state...)

	// One packet to each port from 20000 on, every 20 ms, until stop
	// exists; it prints the last port it sent to.
	stop := filepath.Join(t.TempDir(), "stop")
	script := fmt.Sprintf(`p=20000; while [ ! -e %s ] && [ $p -lt 60000 ]; do echo x >/dev/udp/%s/$p; p=$((p+1)); sleep 0.02; done; echo $((p-1))`, stop, dst)
	argv := testutil.InNetns(src, "bash", "-c", script)
	last := make(chan int, 1)
	go func() {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		n, perr := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || perr != nil {
			t.Errorf("sender: %v %v %q", err, perr, out)
		}
		last <- n
	}()
	defer os.WriteFile(stop, nil, 0o644) // the sender ends with the test

	time.Sleep(time.Second)
	for _, after := range []time.Duration{200 * time.Millisecond, time.Second, 2 * time.Second, 3500 * time.Millisecond} {
		testutil.Fill(t, filler)
		time.Sleep(2500 * time.Millisecond) // records are due: a batch is held
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		d.stop(t, syscall.SIGKILL)
		d = startDaemon(t, bin, app, iface, flowLog, state...)
		time.Sleep(time.Second)
	}
	os.WriteFile(stop, nil, 0o644)
	end := <-last
	time.Sleep(3 * time.Second) // past the idle timeout: every flow ended
	d.stop(t, syscall.SIGTERM)

	got := map[uint16]uint64{}
	recs := map[uint16][]string{}
	f, err := os.Open(flowLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r flow.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("flow log line %q: %v", sc.Text(), err)
		}
		if r.Proto == 17 && r.DPort >= 20000 {
			got[r.DPort] += r.Packets
			recs[r.DPort] = append(recs[r.DPort], sc.Text())
		}
	}
	bad := 0
	for p := 20000; p <= end; p++ {
		if n := got[uint16(p)]; n != 1 {
			if bad++; bad <= 5 {
				t.Errorf("port %d: %d packets in the records, 1 sent: %s", p, n, strings.Join(recs[uint16(p)], "\n"))
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d flows of %d wrong", bad, end-20000+1)
	}
	t.Logf("%d one-packet flows, 4 disk-full outages each followed by a SIGKILL after the free", end-20000+1)
}
