package main

import (
	"context"
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

// nsKey is the instance key (ifname.Key) of iface in the named test
// namespace, as a daemon running there computes it.
func nsKey(t *testing.T, ns, iface string) string {
	t.Helper()
	fi, err := os.Stat("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:ns%d", iface, fi.Sys().(*syscall.Stat_t).Ino)
}

// privateRoots gives a test its own pin root (on the BPF filesystem) and
// run directory, passed to the vxtap it starts through the environment.
func privateRoots(t *testing.T) (pins, run string, env []string) {
	t.Helper()
	pins = fmt.Sprintf("/sys/fs/bpf/vxtest-%d", os.Getpid())
	os.RemoveAll(pins)
	t.Cleanup(func() { os.RemoveAll(pins) })
	run = filepath.Join(t.TempDir(), "run")
	return pins, run, append(os.Environ(), "VXTAP_PIN_ROOT="+pins, "VXTAP_RUN_DIR="+run)
}

// TestFailedStartLeavesIfaceClean: `vxtap run` with a bad flag (an
// unwritable --flow-log or --sample-file, a --listen it cannot bind, a
// value out of range), or a failure after attaching (the API socket path
// taken), exits non-zero naming the cause and leaves the interface as it
// found it: no XDP program, no pins, no lock or state file. It used to
// validate those after attaching and leave the program attached with no
// daemon.
func TestFailedStartLeavesIfaceClean(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	ns := testutil.Netns(t, "vxhc-fs")
	testutil.Sh(t, "ip -n %s link add vxfs0 type veth peer name vxfs1 && ip -n %s link set vxfs0 up && ip -n %s link set vxfs1 up", ns, ns, ns)
	pins, run, env := privateRoots(t)
	dir := t.TempDir()
	key := nsKey(t, ns, "vxfs0")

	cases := []struct {
		name, want string
		args       []string
		setup      func()
	}{
		{"flow-log", "--flow-log", []string{"--flow-log", filepath.Join(dir, "no", "such", "dir", "flows.json")}, nil},
		{"sample-file", "--sample-file", []string{"--sample-rate", "10", "--sample-file", filepath.Join(dir, "missing", "s.pcapng")}, nil},
		{"listen port", "--listen", []string{"--listen", "127.0.0.1:99999"}, nil},
		{"listen address", "--listen", []string{"--listen", "198.18.250.1:9781", "--flow-log", filepath.Join(dir, "new-flows.json")}, nil},
		{"flow-table-size", "--flow-table-size", []string{"--flow-table-size", "4294967296"}, nil},
		{"snap-len", "--snap-len", []string{"--snap-len", "4096"}, nil},
		{"api socket taken", "api socket", nil, func() {
			os.MkdirAll(run, 0o755)
			os.WriteFile(filepath.Join(run, key+".sock"), []byte("not a socket"), 0o600)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(run)
			if tc.setup != nil {
				tc.setup()
			}
			args := append([]string{bin, "run", "--iface", "vxfs0", "--listen", "127.0.0.1:0"}, tc.args...)
			argv := testutil.InNetns(ns, args...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // one that started runs: stop it cleanly
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("err %v, output %q: want a failure naming %s", err, out, tc.want)
			}
			if link := testutil.Sh(t, "ip -n %s link show vxfs0", ns); strings.Contains(link, "prog/xdp") {
				t.Errorf("the failed start left an XDP program attached:\n%s\n%s", link, out)
			}
			if entries, _ := os.ReadDir(pins); len(entries) != 0 {
				t.Errorf("the failed start left pins under %s: %v", pins, entries)
			}
			if _, err := os.Stat(filepath.Join(dir, "new-flows.json")); err == nil {
				t.Error("the failed start left the --flow-log file its check created")
			}
			entries, _ := os.ReadDir(run)
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".sock") {
					t.Errorf("the failed start left %s in the run directory", e.Name())
				}
			}
		})
	}
}
