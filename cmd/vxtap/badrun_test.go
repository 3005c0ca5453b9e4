package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// badRunNS is a network namespace of the test's own. Its loopback gives
// `vxtap run` an interface that exists, so a flag test fails on its flag,
// not on the interface (whose existence is checked after every flag), and
// a flag accepted by mistake attaches to nothing that matters.
func badRunNS(t *testing.T) string {
	t.Helper()
	testutil.RequirePrivileged(t)
	return testutil.Netns(t, "vxbad")
}

// runInNS is `vxtap args...` inside namespace ns.
func runInNS(ns, bin string, args ...string) *exec.Cmd {
	argv := testutil.InNetns(ns, append([]string{bin}, args...)...)
	return exec.Command(argv[0], argv[1:]...)
}

// pinnedLo says whether anything is pinned for a namespace's loopback.
func pinnedLo() bool {
	m, _ := filepath.Glob("/sys/fs/bpf/vxtap/lo:ns*")
	return len(m) > 0
}
