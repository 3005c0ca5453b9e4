package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadIPFIXFlags: a bad --ipfix* flag fails `vxtap run` with an error
// naming the flag and the value, before anything is attached.
func TestBadIPFIXFlags(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	for _, c := range []struct {
		args      []string
		flag, why string
	}{
		{[]string{"--ipfix", "198.18.0.1"}, "--ipfix", "want HOST:PORT"},
		{[]string{"--ipfix", "sctp://198.18.0.1:4739"}, "--ipfix", `scheme "sctp"`},
		{[]string{"--ipfix", "198.18.0.1:70000"}, "--ipfix", `port "70000"`},
		{[]string{"--ipfix", "198.18.0.1:4739", "--ipfix-domain", "4294967296"}, "--ipfix-domain", "4294967296"},
		{[]string{"--ipfix", "198.18.0.1:4739", "--ipfix-mtu", "500"}, "--ipfix-mtu", "500"},
		{[]string{"--ipfix", "198.18.0.1:4739", "--ipfix-template-refresh", "0s"}, "--ipfix-template-refresh", "0s"},
		{[]string{"--ipfix-mtu", "1400"}, "--ipfix-mtu", "needs --ipfix"},
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
	}
}
