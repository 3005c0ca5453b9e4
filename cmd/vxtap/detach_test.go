package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestDetachUnreported: flows a --keep-attached program counted while no
// daemon ran used to be discarded by `detach` without a word. detach now
// refuses, saying how many flows and packets are unreported; --force
// detaches and says what it discarded.
func TestDetachUnreported(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	src := testutil.Netns(t, "vxhc-dsrc")
	app := testutil.Netns(t, "vxhc-dapp")
	iface, dst := testutil.VXLANPair(t, src, app, 78, 78)
	cleanupIn(t, app, iface)
	d := startDaemon(t, bin, app, iface, filepath.Join(t.TempDir(), "flows.json"), "--listen", "127.0.0.1:0", "--keep-attached")
	d.stop(t, syscall.SIGTERM)
	n := <-sendUDP(t, src, dst, 5003, 300*time.Millisecond) // counted with no daemon running
	if n == 0 {
		t.Fatal("sent nothing")
	}
	detach := func(args ...string) (string, error) {
		argv := testutil.InNetns(app, append([]string{bin, "detach", "--iface", iface}, args...)...)
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		return string(out), err
	}
	out, err := detach()
	counts := regexp.MustCompile(`(\d+) flow\(s\), (\d+) packet\(s\)`)
	m := counts.FindStringSubmatch(out)
	if err == nil || m == nil || !strings.Contains(out, "not reported") || !strings.Contains(out, "--force") {
		t.Fatalf("detach with unreported flows: %v %q", err, out)
	}
	// The flow sent to 5003 at least (the lab may add its own, e.g. the
	// vxlan device's first packets).
	if flows, _ := strconv.Atoi(m[1]); flows < 1 {
		t.Errorf("detach: %q, want at least the flow sent", out)
	}
	if pkts, _ := strconv.Atoi(m[2]); pkts < n {
		t.Errorf("detach: %q, want at least the %d packets sent", out, n)
	}
	if !pinnedIn(t, app, iface) {
		t.Fatal("a refused detach removed the pins")
	}
	out, err = detach("--force")
	if err != nil || !strings.Contains(out, "discarded "+m[0]) {
		t.Fatalf("detach --force: %v %q, want %q discarded", err, out, m[0])
	}
	if pinnedIn(t, app, iface) {
		t.Fatal("detach --force left the pins")
	}
}
