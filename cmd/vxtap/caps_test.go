package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestRunsWithThreeCapabilities: `vxtap run` as an unprivileged user
// holding only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (as the systemd unit
// grants them) attaches, counts, serves /healthz and exits cleanly.
func TestRunsWithThreeCapabilities(t *testing.T) {
	testutil.RequirePrivileged(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is needed")
	}
	bin := vxtapBin(t)
	// The binary must be reachable by nobody.
	pub := filepath.Join(os.TempDir(), fmt.Sprintf("vxtap-caps-%d", os.Getpid()))
	testutil.Sh(t, "install -m 0755 %s %s", bin, pub)
	t.Cleanup(func() { os.Remove(pub) })
	src := testutil.Netns(t, "vxtc-src")
	app := testutil.Netns(t, "vxtc-app")
	iface, dst := testutil.VXLANPair(t, src, app, 55, 55)
	runDir, err := os.MkdirTemp("", "vxtap-caps-run-") // t.TempDir's parent is not open to nobody
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runDir) })
	pinRoot := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vxtap-caps-%d", os.Getpid()))
	testutil.Sh(t, "mkdir -p %s && chown nobody %s %s && chmod 0755 %s /sys/fs/bpf", pinRoot, pinRoot, runDir, runDir)
	t.Cleanup(func() {
		os.RemoveAll(pinRoot)
		exec.Command("chmod", "0700", "/sys/fs/bpf").Run()
	})

	argv := testutil.InNetns(app, setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"--inh-caps=-all,+bpf,+net_admin,+perfmon", "--ambient-caps=-all,+bpf,+net_admin,+perfmon",
		"--bounding-set=-all,+bpf,+net_admin,+perfmon",
		pub, "run", "--iface", iface, "--listen", "127.0.0.1:9782", "--state-dir", filepath.Join(runDir, "state")) // records to stdout
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+runDir, "VXTAP_PIN_ROOT="+pinRoot)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	up := false
	for i := 0; i < 100 && !up; i++ {
		time.Sleep(100 * time.Millisecond)
		_, err := os.Stat(filepath.Join(runDir, nsKey(t, app, iface)+".json")) // keyed by namespace
		up = err == nil
	}
	if !up {
		t.Fatalf("vxtap run as nobody did not come up: %s", stderr.String())
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	// CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39) and nothing else.
	if !strings.Contains(string(status), "CapEff:\t000000c000001000") || !strings.Contains(string(status), "Uid:\t65534") {
		t.Fatalf("not running as nobody with exactly the three capabilities:\n%s", status)
	}
	sent := <-sendUDP(t, src, dst, 6001, 300*time.Millisecond)
	health, err := inAppNS(t, app, "curl", "-sf", "http://127.0.0.1:9782/healthz")
	if err != nil || strings.TrimSpace(health) != "ok" {
		t.Errorf("/healthz %q %v", health, err)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf(`"dport":6001,"packets":%d,`, sent)) {
		t.Errorf("records do not carry the %d packets sent:\n%s", sent, stdout.String())
	}
}
