package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// inNetns runs fn on an OS thread switched to namespace ns, so what keys
// by namespace (ifname.Key, loader.PinDir) and netlink see ns, as a
// daemon running there does.
func inNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			t.Error(err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			t.Error(err)
			return
		}
		fn()
	}()
	<-done
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
