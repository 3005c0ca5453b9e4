package main

import (
	"bufio"
	"bytes"
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

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// daemonProc is one `vxtap run` in the appliance namespace.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

func startDaemon(t *testing.T, bin, ns, iface, flowLog string, extra ...string) *daemonProc {
	t.Helper()
	args := append([]string{bin, "run", "--iface", iface,
		"--flow-log", flowLog, "--state-dir", filepath.Join(filepath.Dir(flowLog), "state"), "--idle-timeout", "2s", "--active-timeout", "1s", "--sweep-interval", "200ms"}, extra...)
	argv := testutil.InNetns(ns, args...)
	d := &daemonProc{cmd: exec.Command(argv[0], argv[1:]...)}
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState != nil {
			return
		}
		// A clean stop removes the pins, socket and state file; kill only if it hangs.
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
	})
	// Up once its state file names its own pid.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := readStateFile(stateFile(nsKey(t, ns, iface))); err == nil && st.PID == d.cmd.Process.Pid {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("vxtap run did not come up: %s", d.stderr.String())
	return nil
}

func (d *daemonProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	d.cmd.Process.Signal(sig)
	err := d.cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		t.Fatalf("vxtap run after SIGTERM: %v\n%s", err, d.stderr.String())
	}
}

// sendUDP sends datagrams from one socket (one flow) in the source
// namespace for the given time, paced; it returns how many it sent.
func sendUDP(t *testing.T, ns, dst string, port int, dur time.Duration) <-chan int {
	script := fmt.Sprintf(`exec 3>/dev/udp/%s/%d; n=0; end=$(( $(date +%%s%%N) + %d ));
while [ "$(date +%%s%%N)" -lt "$end" ]; do echo x >&3; n=$((n+1)); sleep 0.003; done; echo $n`, dst, port, dur.Nanoseconds())
	argv := testutil.InNetns(ns, "bash", "-c", script)
	ch := make(chan int, 1)
	go func() {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		n, perr := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || perr != nil {
			t.Errorf("sender: %v %v %q", err, perr, out)
		}
		ch <- n
	}()
	return ch
}

// recordsFor sums the records of flows to port in a flow log.
func recordsFor(t *testing.T, path string, port uint16) (packets uint64, records int) {
	t.Helper()
	f, err := os.Open(path)
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
		if r.DPort == port && r.Proto == 17 {
			packets += r.Packets
			records++
		}
	}
	return packets, records
}

// TestRestartLosesNothing: SIGKILL under traffic, then a new `vxtap run`
// re-opens the pinned program and maps; the records of both runs sum to
// the packets sent, none lost, none counted twice. Then the same across a
// --keep-attached exit with traffic while no daemon runs.
func TestRestartLosesNothing(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	src := testutil.Netns(t, "vxtr-src")
	app := testutil.Netns(t, "vxtr-app")
	iface, dst := testutil.VXLANPair(t, src, app, 77, 77)
	cleanupIn(t, app, iface)
	flowLog := filepath.Join(t.TempDir(), "flows.json")

	d1 := startDaemon(t, bin, app, iface, flowLog, "--listen", "127.0.0.1:0")
	sent := sendUDP(t, src, dst, 5001, 4*time.Second)
	time.Sleep(1500 * time.Millisecond)
	d1.stop(t, syscall.SIGKILL)
	if !pinnedIn(t, app, iface) {
		t.Fatal("after SIGKILL the pinned link is gone")
	}
	time.Sleep(500 * time.Millisecond) // traffic with no daemon: the program counts on
	d2 := startDaemon(t, bin, app, iface, flowLog, "--listen", "127.0.0.1:0")
	if !strings.Contains(d2.stderr.String(), "carrying on") {
		t.Errorf("second run did not re-open the pinned program: %s", d2.stderr.String())
	}

	// A second instance on the same interface is refused; the first runs on.
	argv := testutil.InNetns(app, bin, "run", "--iface", iface, "--listen", "127.0.0.1:0")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running on "+iface) {
		t.Errorf("second instance: err %v, output %q", err, out)
	}
	if st, err := readStateFile(stateFile(nsKey(t, app, iface))); err != nil || st.PID != d2.cmd.Process.Pid {
		t.Errorf("the first instance's state was touched: %+v %v", st, err)
	}

	n := <-sent
	time.Sleep(300 * time.Millisecond)
	d2.stop(t, syscall.SIGTERM)
	got, recs := recordsFor(t, flowLog, 5001)
	if got != uint64(n) {
		t.Fatalf("records sum to %d packets over %d records, sender sent %d", got, recs, n)
	}
	if pinnedIn(t, app, iface) {
		t.Fatal("clean exit left the program pinned")
	}
	if recs < 3 {
		t.Errorf("only %d records: the active timeout should have emitted some before the kill", recs)
	}
	t.Logf("SIGKILL + restart: %d packets sent, %d in %d records", n, got, recs)

	// --keep-attached: exit, traffic while nothing runs, start again.
	d3 := startDaemon(t, bin, app, iface, flowLog, "--listen", "127.0.0.1:0", "--keep-attached")
	a := <-sendUDP(t, src, dst, 5002, 500*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	d3.stop(t, syscall.SIGTERM)
	if !pinnedIn(t, app, iface) {
		t.Fatal("--keep-attached exit removed the pins")
	}
	b := <-sendUDP(t, src, dst, 5002, 500*time.Millisecond) // a new socket: a second flow
	d4 := startDaemon(t, bin, app, iface, flowLog, "--listen", "127.0.0.1:0")
	time.Sleep(300 * time.Millisecond)
	d4.stop(t, syscall.SIGTERM)
	got, recs = recordsFor(t, flowLog, 5002)
	if got != uint64(a+b) {
		t.Fatalf("keep-attached: records sum to %d packets over %d records, sent %d", got, recs, a+b)
	}
}
