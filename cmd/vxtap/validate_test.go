package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestIfaceRefused: every command taking --iface refuses a name that is
// no interface name (a path, "..", empty, over 15 bytes) and changes
// nothing: `detach --iface ../../../../tmp/x` used to delete that
// directory and say "nothing attached".
func TestIfaceRefused(t *testing.T) {
	bin := vxtapBin(t)
	dir := t.TempDir()
	pins := filepath.Join(dir, "a", "b", "c", "d") // ../../../../victim from here is dir/victim
	victim := filepath.Join(dir, "victim")
	if err := os.MkdirAll(pins, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "VXTAP_PIN_ROOT="+pins, "VXTAP_RUN_DIR="+filepath.Join(dir, "run"))
	bad := []string{"../../../../victim", "..", "", "a/b", "abcdefghijklmnop", "eth0:1"}
	for _, name := range bad {
		for _, args := range [][]string{
			{"detach", "--iface", name},
			{"status", "--iface", name},
			{"top", "--once", "--iface", name},
			{"filter", "hits", "--iface", name},
			{"filter", "apply", "--iface", name, "--aws-filters", "x.json"},
			{"run", "--iface", name},
		} {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--iface") || !strings.Contains(string(out), "interface name") {
				t.Errorf("vxtap %s: err %v, output %q: want a refusal naming --iface", strings.Join(args, " "), err, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(victim, "precious")); err != nil {
		t.Fatalf("a refused --iface deleted files outside the pin root: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "run")); len(entries) != 0 {
		t.Errorf("a refused --iface left files in the run directory: %v", entries)
	}
}

// TestRunIfaceMustExist: `vxtap run` names an interface that is not there
// before touching anything.
func TestRunIfaceMustExist(t *testing.T) {
	bin := vxtapBin(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "run", "--iface", "vxnosuch0")
	cmd.Env = append(os.Environ(), "VXTAP_PIN_ROOT="+filepath.Join(dir, "pins"), "VXTAP_RUN_DIR="+filepath.Join(dir, "run"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "vxnosuch0") || !strings.Contains(string(out), "no such interface") {
		t.Fatalf("err %v, output %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "run")); err == nil {
		t.Error("run created its run directory for an interface that does not exist")
	}
}

// TestIntegerFlagsRangeChecked: --flow-table-size 4294967296 used to wrap
// to 0 and fail as "must be at least 1"; integer flags are range-checked
// before they are narrowed, naming the flag and the range.
func TestIntegerFlagsRangeChecked(t *testing.T) {
	bin := vxtapBin(t)
	for _, args := range [][]string{
		{"analyze", "--flow-table-size", "4294967296", "x.pcap"},
		{"run", "--iface", "none0", "--flow-table-size", "4294967296"},
		{"run", "--iface", "none0", "--flow-table-size", "16777216"}, // past the flow index's 24-bit slots
		{"run", "--iface", "none0", "--sample-rate", "4294967296"},
		{"run", "--iface", "none0", "--snap-len", "0"},
	} {
		cmd := exec.Command(bin, args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		flag := args[len(args)-2]
		if args[0] == "analyze" {
			flag = args[1]
		}
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "flag "+flag+":") || !strings.Contains(string(out), "out of range") {
			t.Errorf("%v: %v %q, want exit 2 naming %s out of range", args, err, out, flag)
		}
	}
}
