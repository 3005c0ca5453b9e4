package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigFileFlags: flags of vxtap run set under run: in the
// configuration file count as given (a ClickHouse retention without a
// store is refused naming the flag, as on the command line); the command
// line wins; an unknown flag or a bad value is an error naming
// file:line:column; nothing starts.
func TestConfigFileFlags(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sessions := "sessions:\n  101: {name: a, action: analyze}\n"
	for _, c := range []struct {
		name, body string
		extra      []string
		want       string
	}{
		{"retention.yaml", sessions + "run:\n  clickhouse-retention: 7\n", nil, "flag --clickhouse-retention: needs --clickhouse"},
		{"store.yaml", sessions + "run:\n  clickhouse: http://127.0.0.1:8123\n", nil, "flag --clickhouse"},
		{"ipfix.yaml", sessions + "run:\n  ipfix: 198.18.0.1\n", nil, "flag --ipfix"},
		{"unknown.yaml", sessions + "run:\n  clickhuose: clickhouse://x:9000\n", nil, "unknown.yaml:4:3: run.clickhuose: not a flag"},
		{"iface.yaml", sessions + "run:\n  iface: eth9\n", nil, "iface.yaml:4:3: run.iface: not a flag"},
		{"badvalue.yaml", sessions + "run:\n  sample-rate: lots\n", nil, "badvalue.yaml:4:16: run.sample-rate"},
		{"notmap.yaml", sessions + "run: [a, b]\n", nil, "notmap.yaml:3:6: run: want a mapping"},
		// The command line wins: its bad value is the one reported.
		{"cli.yaml", sessions + "run:\n  ipfix: 198.18.0.1:4739\n", []string{"--ipfix", "sctp://198.18.0.1:1"}, `scheme "sctp"`},
	} {
		cfg := write(c.name, c.body)
		args := append([]string{"run", "--iface", "lo", "--state-dir", filepath.Join(tmp, "state"), "--config", cfg}, c.extra...)
		cmd := runInNS(ns, bin, args...)
		cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+tmp)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("%s: started", c.name)
			continue
		}
		if msg := stderr.String(); !strings.Contains(msg, c.want) {
			t.Errorf("%s: stderr %q, want %q", c.name, msg, c.want)
		}
		if pinnedLo() {
			t.Errorf("%s: something was pinned", c.name)
		}
	}
}
