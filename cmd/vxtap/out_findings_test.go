package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A detect: section that does not read fails `vxtap run` before anything
// is attached, naming file:line and the key; so does a findings log
// without detection.
func TestBadDetectConfigChangesNothing(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	bad := filepath.Join(tmp, "vxtap.yaml")
	os.WriteFile(bad, []byte("sessions:\n  101: {name: a, action: analyze}\ndetect:\n  portscan: {window: soon}\n"), 0o644)
	missing := filepath.Join(tmp, "detect-missing-list.yaml")
	os.WriteFile(missing, []byte("detect:\n  threat_lists: [nowhere.txt]\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", bad}, bad + `:4:22: detect.portscan.window: "soon"`},
		{[]string{"--config", missing}, filepath.Join(tmp, "nowhere.txt")},
		{[]string{"--findings-log", filepath.Join(tmp, "f.jsonl")}, "flag --findings-log: detection is off"},
	} {
		args := append([]string{"run", "--iface", "lo", "--state-dir", filepath.Join(tmp, "state")}, c.args...)
		cmd := runInNS(ns, bin, args...)
		cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+tmp)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("vxtap %v: %v\n%s\nwant an error containing %q", c.args, err, out, c.want)
		}
		if strings.Contains(string(out), "vxtap running") {
			t.Errorf("vxtap %v started", c.args)
		}
	}
}

// vxtap findings check reads the section and its lists, naming the line
// of a bad entry.
func TestFindingsCheck(t *testing.T) {
	bin := vxtapBin(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "vxtap.yaml")
	os.WriteFile(conf, []byte("detect:\n  threat_lists: [t.txt]\n  mining: {domains: [minexmr.com]}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "t.txt"), []byte("198.19.9.9\n2001:db8:bad::/48\n"), 0o644)
	out, err := exec.Command(bin, "findings", "check", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok: 2 threat list entries, 0 mining pools, 1 mining domains") {
		t.Fatalf("%v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "t.txt"), []byte("198.19.9.9\n198.19.9.0/16\n"), 0o644)
	out, err = exec.Command(bin, "findings", "check", conf).CombinedOutput()
	if err == nil || !strings.Contains(string(out), filepath.Join(dir, "t.txt")+`:2: "198.19.9.0/16" has host bits set`) {
		t.Fatalf("%v\n%s", err, out)
	}
}
