package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// captureProc is one `vxtap capture` client.
type captureProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startCapture(t *testing.T, ns, bin string, stdout *os.File, args ...string) *captureProc {
	t.Helper()
	argv := testutil.InNetns(ns, append([]string{bin, "capture"}, args...)...)
	p := &captureProc{cmd: exec.Command(argv[0], argv[1:]...)}
	p.cmd.Stderr = &p.stderr
	if stdout != nil {
		p.cmd.Stdout = stdout
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// interrupt ends a capture as Ctrl-C does and waits for the client.
func (p *captureProc) interrupt(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("vxtap capture %v: %v\n%s", p.cmd.Args, err, p.stderr.String())
	}
}

// activeCaptures reads nactive of the daemon program's capture_control
// map with bpftool: what the kernel runs, not what the daemon believes.
func activeCaptures(t *testing.T, progID uint32) int {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "prog", "show", "id", fmt.Sprint(progID)).Output()
	if err != nil {
		t.Fatalf("bpftool prog show %d: %v", progID, err)
	}
	m := regexp.MustCompile(`"map_ids":\[([0-9,]*)\]`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("bpftool prog show: no map_ids in %s", out)
	}
	for _, id := range strings.Split(string(m[1]), ",") {
		info, _ := exec.Command("bpftool", "-j", "map", "show", "id", id).Output()
		if !bytes.Contains(info, []byte(`"name":"capture_control"`)) {
			continue
		}
		v, err := exec.Command("bpftool", "-j", "map", "lookup", "id", id, "key", "0", "0", "0", "0").Output()
		if err != nil {
			t.Fatalf("bpftool map lookup capture_control: %v", err)
		}
		n := regexp.MustCompile(`"nactive":([0-9]+)`).FindSubmatch(v)
		if n == nil {
			t.Fatalf("capture_control value without nactive: %.200s", v)
		}
		k, _ := strconv.Atoi(string(n[1]))
		return k
	}
	t.Fatalf("program %d has no capture_control map", progID)
	return 0
}

func waitCaptures(t *testing.T, progID uint32, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for got := activeCaptures(t, progID); got != want; got = activeCaptures(t, progID) {
		if time.Now().After(deadline) {
			t.Fatalf("%d captures active in the kernel, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// labEnv reads one key of the lab's facts file.
func labEnv(t *testing.T, prefix, key string) string {
	t.Helper()
	b, err := os.ReadFile(trafficgen.EnvPath(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in the lab facts", key)
	return ""
}

// tsharkRow is one packet as tshark reads it.
type tsharkRow struct {
	iface, desc, comment, flow string
	len, capLen                int
}

const tsharkFields = "frame.interface_name,frame.interface_description,frame.len,frame.cap_len,frame.comment,ip.src,ipv6.src,ip.dst,ipv6.dst,tcp.srcport,udp.srcport,tcp.dstport,udp.dstport"

func tsharkArgs(file string) []string {
	args := []string{"-r", file, "-T", "fields", "-E", "separator=|"}
	for _, f := range strings.Split(tsharkFields, ",") {
		args = append(args, "-e", f)
	}
	return args
}

func parseTshark(t *testing.T, out []byte) []tsharkRow {
	t.Helper()
	var rows []tsharkRow
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "|")
		if len(f) != 13 {
			t.Fatalf("tshark line %q: %d fields", l, len(f))
		}
		n, _ := strconv.Atoi(f[2])
		c, _ := strconv.Atoi(f[3])
		src, dst := f[5]+f[6], f[7]+f[8]
		rows = append(rows, tsharkRow{iface: f[0], desc: f[1], comment: f[4], len: n, capLen: c,
			flow: fmt.Sprintf("%s:%s>%s:%s", src, f[9]+f[10], dst, f[11]+f[12])})
	}
	return rows
}

// TestLabCapture: `vxtap capture` against the running daemon in the lab,
// five captures at once while the traffic generator runs:
//   - streamed (-w - | tshark -r -): session lab-src1 TCP, cut at 128
//     bytes: per flow the packets and the original lengths equal what the
//     generator sent; interfaces named after the session, mirror source in
//     each comment;
//   - to a file: VNI of source 2, UDP: the packets the generator sent;
//   - a filter matching nothing: the kernel counted nothing matched and
//     sent nothing through the ring buffer;
//   - -c 5: exactly 5 packets, then the kernel slot is free;
//   - a client killed with SIGKILL: its slot is freed too.
func TestLabCapture(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, tool := range []string{"tshark", "bpftool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/deps.sh)", tool)
		}
	}
	bin := vxtapBin(t)
	lab := labUpAs(t, fmt.Sprintf("vxcp%d", os.Getpid()%1000))
	if lab.Sessions == "" {
		t.Fatal("the lab wrote no sessions file")
	}
	dir := t.TempDir()
	d := startDaemon(t, bin, lab.AppNS, lab.AppIf, filepath.Join(dir, "flows.json"), "--config", lab.Sessions)
	st, err := readStateFile(stateFile(nsKey(t, lab.AppNS, lab.AppIf)))
	if err != nil {
		t.Fatal(err)
	}
	src1, src2 := lab.Sources[0], lab.Sources[1]
	iface := "--iface=" + lab.AppIf

	// Streamed: vxtap capture -w - | tshark -r -
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	streamed := startCapture(t, lab.AppNS, bin, pw, iface, "--filter", "session lab-src1 tcp", "-s", "128", "-w", "-")
	pw.Close()
	tshark := exec.Command("tshark", tsharkArgs("-")...)
	tshark.Stdin = pr
	var tsOut, tsErr bytes.Buffer
	tshark.Stdout, tshark.Stderr = &tsOut, &tsErr
	if err := tshark.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	t.Cleanup(func() {
		if tshark.ProcessState == nil {
			tshark.Process.Kill()
			tshark.Wait()
		}
	})

	udpFile, noneFile, countFile := filepath.Join(dir, "udp.pcapng"), filepath.Join(dir, "none.pcapng"), filepath.Join(dir, "count.pcapng")
	udp := startCapture(t, lab.AppNS, bin, nil, iface, "--filter", fmt.Sprintf("vni %d udp", src2.VNI), "-w", udpFile)
	none := startCapture(t, lab.AppNS, bin, nil, iface, "--filter", "vni 999", "-w", noneFile)
	count := startCapture(t, lab.AppNS, bin, nil, iface, "-c", "5", "--filter", "session lab-src2", "-w", countFile)
	victim := startCapture(t, lab.AppNS, bin, nil, iface, "-w", os.DevNull)
	waitCaptures(t, st.ProgID, 5)
	cl, err := api.DialPath(filepath.Join(runDir, nsKey(t, lab.AppNS, lab.AppIf)+".sock"), lab.AppIf)
	if err != nil {
		t.Fatal(err)
	}
	if ds, err := cl.Status(context.Background()); err != nil || ds.Captures != 5 {
		t.Errorf("/v1/status: %v captures running (%v), want 5", ds, err)
	}
	cl.Close()

	opt := trafficgen.DefaultOptions()
	res, err := trafficgen.Run(lab, opt)
	if err != nil {
		t.Fatal(err)
	}

	// -c 5 ends on its own; its kernel slot is then free.
	done := make(chan error, 1)
	go func() { done <- count.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vxtap capture -c 5: %v\n%s", err, count.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("vxtap capture -c 5 still running after the traffic\n%s", count.stderr.String())
	}
	waitCaptures(t, st.ProgID, 4)
	// The client going away frees its slot.
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	waitCaptures(t, st.ProgID, 3)

	time.Sleep(500 * time.Millisecond) // the daemon drains every 200 ms
	streamed.interrupt(t)
	udp.interrupt(t)
	none.interrupt(t)
	if err := tshark.Wait(); err != nil {
		t.Fatalf("tshark -r - on the stream: %v\n%s", err, tsErr.String())
	}
	waitCaptures(t, st.ProgID, 0)
	for _, p := range []*captureProc{streamed, udp, none, count} {
		t.Logf("%s:\n%s", strings.Join(p.cmd.Args, " "), p.stderr.String())
		if !strings.Contains(p.stderr.String(), " 0 lost (ring buffer full)") || !strings.Contains(p.stderr.String(), "0 packets dropped by the daemon") {
			t.Errorf("capture %v lost packets:\n%s", p.cmd.Args, p.stderr.String())
		}
	}

	// The stream: per flow, packets and original lengths as sent.
	want := map[string][2]int{}
	for _, r := range res.Rows {
		if r.VNI == src1.VNI && r.Proto == 6 {
			k := fmt.Sprintf("%s:%d>%s:%d", r.Src, r.SPort, r.Dst, r.DPort)
			want[k] = [2]int{int(r.Packets), int(r.Bytes)}
		}
	}
	rows := parseTshark(t, tsOut.Bytes())
	got := map[string][2]int{}
	truncated := 0
	mirror := "mirror=" + labEnv(t, lab.Prefix, "SRC1_OUTER")
	for _, r := range rows {
		c := got[r.flow]
		c[0]++
		c[1] += r.len - 14 // inner Ethernet header: the generator counts IP bytes
		got[r.flow] = c
		if r.capLen > 128 || r.capLen > r.len {
			t.Errorf("packet of %d bytes captured at %d: past the snap length", r.len, r.capLen)
		}
		if r.len > r.capLen {
			truncated++
		}
		if r.iface != "lab-src1" || !strings.Contains(r.desc, fmt.Sprintf("VNI %d", src1.VNI)) ||
			!strings.Contains(r.comment, mirror) || !strings.Contains(r.comment, fmt.Sprintf("vni=%d", src1.VNI)) {
			t.Errorf("packet interface %q (%q), comment %q; want lab-src1, VNI %d, %s", r.iface, r.desc, r.comment, src1.VNI, mirror)
			break
		}
	}
	if len(want) < 4 || truncated == 0 {
		t.Fatalf("the generator sent %d TCP flows on VNI %d, %d copies truncated by -s 128: too few to test", len(want), src1.VNI, truncated)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("stream flow %s: %d packets %d bytes captured, sent %d packets %d bytes", k, got[k][0], got[k][1], w[0], w[1])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("stream flow %s captured, never sent on VNI %d over TCP", k, src1.VNI)
		}
	}
	t.Logf("stream: %d packets in %d flows, %d cut by the snap length", len(rows), len(want), truncated)

	// The file: every UDP packet of source 2.
	wantUDP := 0
	for _, r := range res.Rows {
		if r.VNI == src2.VNI && r.Proto == 17 {
			wantUDP += int(r.Packets)
		}
	}
	out, err := exec.Command("tshark", tsharkArgs(udpFile)...).Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", udpFile, err)
	}
	urows := parseTshark(t, out)
	if len(urows) != wantUDP || wantUDP == 0 {
		t.Errorf("file capture: %d packets, the generator sent %d UDP packets on VNI %d", len(urows), wantUDP, src2.VNI)
	}
	for _, r := range urows {
		if r.iface != "lab-src2" || r.len != r.capLen {
			t.Errorf("file packet on %q, %d of %d bytes", r.iface, r.capLen, r.len)
			break
		}
	}

	// -c 5: five packets.
	if out, err := exec.Command("tshark", tsharkArgs(countFile)...).Output(); err != nil || len(parseTshark(t, out)) != 5 {
		t.Errorf("-c 5 file: %d packets (%v)", len(parseTshark(t, out)), err)
	}
	// Nothing matched: nothing crossed the ring buffer for it.
	if !strings.Contains(none.stderr.String(), "0 packets captured") ||
		!strings.Contains(none.stderr.String(), "0 packets matched the filter in the data path: 0 sent") {
		t.Errorf("a filter matching nothing:\n%s", none.stderr.String())
	}
	if out, err := exec.Command("tshark", tsharkArgs(noneFile)...).Output(); err != nil || len(parseTshark(t, out)) != 0 {
		t.Errorf("empty capture file: %v %q", err, out)
	}
	// A capture running when the daemon stops ends with its counters.
	last := startCapture(t, lab.AppNS, bin, nil, iface, "-w", os.DevNull)
	waitCaptures(t, st.ProgID, 1)
	d.stop(t, syscall.SIGTERM)
	if err := last.cmd.Wait(); err != nil || !strings.Contains(last.stderr.String(), "(daemon stopping)") {
		t.Errorf("capture when the daemon stops: %v\n%s", err, last.stderr.String())
	}
}
