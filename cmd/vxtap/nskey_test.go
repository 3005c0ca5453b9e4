package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// inNetns runs fn on an OS thread switched to namespace ns, so what keys
// by namespace (ifname.Key, loader.PinDir) and netlink see ns, as a
// daemon running there does. The thread goes back to its namespace
// afterwards: a thread left behind could be the process's main one, and
// then the whole test process would seem to live in ns (ip netns pids,
// which lab-down.sh reads).
func inNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	if err := testutil.DoInNetns(ns, func() error { fn(); return nil }); err != nil {
		t.Error(err)
	}
}

// pinnedIn reports whether iface in namespace ns has pins.
func pinnedIn(t testing.TB, ns, iface string) (pinned bool) {
	inNetns(t, ns, func() { pinned = loader.Pinned(iface) })
	return pinned
}

// cleanupIn removes what a daemon on iface in ns may have left: pins,
// lock, state file and socket.
func cleanupIn(t *testing.T, ns, iface string) {
	key := nsKey(t, ns, iface)
	t.Cleanup(func() {
		inNetns(t, ns, func() { loader.Detach(iface) })
		for _, ext := range []string{".lock", ".json", ".sock"} {
			os.Remove(filepath.Join(runDir, key+ext))
		}
	})
}

// inNsCmd is a command run in namespace ns (nsenter keeps the mounts).
func inNsCmd(ns string, argv ...string) *exec.Cmd {
	full := testutil.InNetns(ns, argv...)
	return exec.Command(full[0], full[1:]...)
}
