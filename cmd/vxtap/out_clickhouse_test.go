package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadClickhouseFlagsChangeNothing: a bad ClickHouse flag fails `vxtap
// run` with an error naming it, before anything is attached or spooled.
func TestBadClickhouseFlagsChangeNothing(t *testing.T) {
	bin := vxtapBin(t)
	tmp := t.TempDir()
	ns := badRunNS(t)
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--clickhouse", "http://127.0.0.1:8123"}, "--clickhouse"},
		{[]string{"--clickhouse", "clickhouse://"}, "--clickhouse"},
		{[]string{"--clickhouse-retention", "7"}, "--clickhouse-retention"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--clickhouse-spool-size", "0"}, "--clickhouse-spool-size"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--clickhouse-batch-rows", "0"}, "--clickhouse-batch-rows"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--clickhouse-flush-interval", "0s"}, "--clickhouse-flush-interval"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--clickhouse-retention", "-1"}, "--clickhouse-retention"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--clickhouse-table", "flows;drop"}, "--clickhouse-database/--clickhouse-table"},
	} {
		state := filepath.Join(tmp, "state-"+strings.TrimPrefix(c.flag, "--"))
		args := append([]string{"run", "--iface", "lo", "--state-dir", state}, c.args...)
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
		if _, err := os.Stat(filepath.Join(state, "clickhouse-spool")); err == nil {
			t.Errorf("%v: a spool was made", c.args)
		}
	}
}

// TestReportClickhouseFlags: bad windows and formats are refused before
// ClickHouse is asked anything.
func TestReportClickhouseFlags(t *testing.T) {
	bin := vxtapBin(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9"}, "flag --since: required"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "yesterday"}, "flag --since:"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "1h", "--until", "2h"}, "is not after --since"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "1h", "--format", "tsv"}, "flag --format:"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "1h", "--group", "color"}, "flag --group:"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "1h", "--filter", "port x"}, "flag --filter:"},
	} {
		out, err := runVxtap(bin, append([]string{"report"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("report %v: err %v, output %q, want %q", c.args, err, out, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--since", "0s"}, "flag --since:"},
		{[]string{"--clickhouse", "clickhouse://127.0.0.1:9", "--group", "color"}, "flag --group:"},
	} {
		out, err := runVxtap(bin, append([]string{"top", "--once"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("top %v: err %v, output %q, want %q", c.args, err, out, c.want)
		}
	}
}

// runVxtap runs vxtap and returns its stdout and stderr together.
func runVxtap(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}
