package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadDecapFlags: a bad --decap-* flag fails `vxtap run` with an error
// naming the flag and the value, before anything is attached or created.
func TestBadDecapFlags(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	for _, c := range []struct {
		args      []string
		flag, why string
	}{
		{[]string{"--decap-to", "nosuchif0"}, "--decap-to", "interface nosuchif0"},
		{[]string{"--decap-to", ""}, "--decap-to", "empty interface name"},
		{[]string{"--decap-to", "create:"}, "--decap-to", "1 to 10 characters"},
		{[]string{"--decap-to", "create:abcdefghijk"}, "--decap-to", "abcdefghijk-peer must fit 15"},
		{[]string{"--decap-to", "create:lo"}, "--decap-to", "an interface lo already exists"},
		{[]string{"--decap-vni", "42"}, "--decap-vni", `"42" is not VNI=IFACE`},
		{[]string{"--decap-vni", "16777216=lo"}, "--decap-vni", "below 16777216"},
		{[]string{"--decap-vni", "x=lo"}, "--decap-vni", `"x=lo"`},
		{[]string{"--decap-vni", "42=lo", "--decap-vni", "42=lo"}, "--decap-vni", "VNI 42 given twice"},
		{[]string{"--decap-vni", "42=create:dca", "--decap-vni", "43=create:dca"}, "--decap-vni", "create:dca given twice"},
		{[]string{"--decap-jumbo"}, "--decap-jumbo", "needs --decap-to or --decap-vni"},
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
		if msg := stderr.String(); !strings.Contains(msg, "flag "+c.flag+":") || !strings.Contains(msg, c.why) {
			t.Errorf("%v: stderr %q, want flag %s named with %q", c.args, msg, c.flag, c.why)
		}
		if pinnedLo() {
			t.Errorf("%v: something was pinned", c.args)
		}
		if out, _ := exec.Command("ip", "-n", ns, "-br", "link").Output(); strings.Contains(string(out), "dca") {
			t.Errorf("%v: a veth was created:\n%s", c.args, out)
		}
	}
}
