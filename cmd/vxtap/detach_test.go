package main

import (
	"os/exec"
	"path/filepath"
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
	if err == nil || !strings.Contains(out, "1 flow(s)") || !strings.Contains(out, "not reported") || !strings.Contains(out, "--force") {
		t.Fatalf("detach with unreported flows: %v %q", err, out)
	}
	if !pinnedIn(t, app, iface) {
		t.Fatal("a refused detach removed the pins")
	}
	out, err = detach("--force")
	if err != nil || !strings.Contains(out, "discarded 1 flow(s)") {
		t.Fatalf("detach --force: %v %q", err, out)
	}
	if !strings.Contains(out, " "+itoa(n)+" packet(s)") {
		t.Errorf("detach --force: %q, want the %d packets sent named", out, n)
	}
	if pinnedIn(t, app, iface) {
		t.Fatal("detach --force left the pins")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
