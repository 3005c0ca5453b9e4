package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "4096": 4096, "10K": 10 << 10, "100M": 100 << 20, "1g": 1 << 30, "2GB": 2 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1X", "M", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// TestRunHasEveryOutputFlag: each registered output's flags are flags of
// `vxtap run`.
func TestRunHasEveryOutputFlag(t *testing.T) {
	have := map[string]bool{}
	for _, f := range runCommand().Flags {
		for _, n := range f.Names() {
			have[n] = true
		}
	}
	for _, o := range outputs {
		for _, f := range o.flags {
			if !have[f.Names()[0]] {
				t.Errorf("output %s: flag --%s missing from vxtap run", o.name, f.Names()[0])
			}
		}
	}
}

// TestBadOutputFlagsChangeNothing: a bad output flag fails the start with
// an error naming it, before anything is attached.
func TestBadOutputFlagsChangeNothing(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--flow-log", filepath.Join(tmp, "no", "such", "dir", "f.json")}, "--flow-log"},
		{[]string{"--flow-log", filepath.Join(tmp, "f.json"), "--flow-log-max-size", "12Q"}, "--flow-log-max-size"},
		{[]string{"--flow-log-max-size", "1M"}, "--flow-log-max-size"},
		{[]string{"--flow-log", filepath.Join(tmp, "f.json"), "--flow-log-keep", "-1"}, "--flow-log-keep"},
		{[]string{"--sample-file", filepath.Join(tmp, "no", "s.pcapng")}, "--sample-file"},
	} {
		args := append([]string{"run", "--iface", "lo", "--state-dir", filepath.Join(tmp, "state")}, c.args...)
		cmd := runInNS(ns, bin, args...)
		cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+tmp)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: started", c.args)
			continue
		}
		if msg := stderr.String(); !strings.Contains(msg, "flag "+c.flag+":") {
			t.Errorf("%v: stderr %q, want flag %s named", c.args, msg, c.flag)
		}
		if pinnedLo() {
			t.Errorf("%v: something was pinned", c.args)
		}
	}
}
