package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestDecapVethAfterKill: the veth pair of --decap-to create:NAME outlives
// a SIGKILLed daemon. The restart (systemd's Restart=on-failure) must take
// it back instead of refusing "NAME already exists" for good, `vxtap
// detach` must remove it, and an interface of that name vxtap did not
// create is still refused.
func TestDecapVethAfterKill(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	ns := testutil.Netns(t, "vxdk")
	testutil.Sh(t, "ip -n %s link add vxdk0 type veth peer name vxdk1 && ip -n %s link set vxdk0 up && ip -n %s link set vxdk1 up", ns, ns, ns)
	dir := t.TempDir()
	const feed = "vxdkfeed"
	exists := func(name string) bool {
		return exec.Command("ip", "-n", ns, "link", "show", name).Run() == nil
	}
	args := []string{"--decap-to", "create:" + feed, "--listen", "127.0.0.1:0", "--xdp-mode", "generic"}

	d := startDaemon(t, bin, ns, "vxdk0", filepath.Join(dir, "flows.json"), args...)
	d.stop(t, syscall.SIGKILL)
	if !exists(feed) {
		t.Fatalf("%s gone after SIGKILL: this test needs the leftover", feed)
	}
	// The restart takes the leftover pair back; a clean stop removes it.
	d = startDaemon(t, bin, ns, "vxdk0", filepath.Join(dir, "flows.json"), args...)
	if !strings.Contains(d.stderr.String(), "left by a previous run") {
		t.Errorf("restart did not say it replaced the leftover pair:\n%s", d.stderr.String())
	}
	d.stop(t, syscall.SIGTERM)
	if exists(feed) || exists(feed+"-peer") {
		t.Fatalf("%s still there after a clean stop", feed)
	}

	// Killed again: detach removes the pair with the pins.
	d = startDaemon(t, bin, ns, "vxdk0", filepath.Join(dir, "flows.json"), args...)
	d.stop(t, syscall.SIGKILL)
	out, err := runInNS(ns, bin, "detach", "--iface", "vxdk0", "--force").CombinedOutput()
	if err != nil {
		t.Fatalf("detach: %v\n%s", err, out)
	}
	if exists(feed) || exists(feed+"-peer") {
		t.Fatalf("%s still there after detach:\n%s", feed, out)
	}
	if !strings.Contains(string(out), feed) {
		t.Errorf("detach did not name the pair it removed:\n%s", out)
	}
	// Nor does the killed daemon's state file or API socket stay behind.
	for _, p := range []string{stateFile(nsKey(t, ns, "vxdk0")), filepath.Join(filepath.Dir(stateFile("x")), nsKey(t, ns, "vxdk0")+".sock")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s still there after detach", p)
		}
	}

	// Someone else's interface of that name is not taken.
	testutil.Sh(t, "ip -n %s link add %s type veth peer name vxdkfx", ns, feed) // a veth, not marked as ours
	cmd := runInNS(ns, bin, append([]string{"run", "--iface", "vxdk0", "--flow-log", filepath.Join(dir, "f2.json")}, args...)...)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already exists") {
		t.Fatalf("a foreign %s was not refused: %v\n%s", feed, err, out)
	}
	if !exists(feed) {
		t.Fatalf("the foreign %s was removed", feed)
	}
}
