package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/api/apitest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/flow/flowtest"
	"github.com/vxtap/vxtap/userspace/topview"
)

// fakeDaemon serves the API with known flows from this test process, on
// a socket in a temporary directory.
func fakeDaemon(t *testing.T) (*api.Server, string) {
	t.Helper()
	fake := apitest.NewFake("lab0")
	fake.SetFlows(apitest.LabFlows())
	fake.SetCounters([]flow.Counter{{Name: "flow", Class: flow.ClassAccounted, Packets: 1000}, {Name: "short_inner_ip", Class: flow.ClassMalformed, Packets: 4}},
		[]flow.Counter{{Name: "ringbuf_full", Class: flow.ClassLost, Packets: 2}})
	path := filepath.Join(t.TempDir(), "lab0.sock")
	srv, err := api.ListenPath(path, "lab0", fake)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return srv, path
}

// tmuxSession is a private tmux server (its own socket) with one pane.
type tmuxSession struct {
	t        *testing.T
	socket   string
	exitFile string // the command's exit status, written when it ends
}

func newTmux(t *testing.T, width, height int, argv ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("tmux is not installed (scripts/deps.sh installs it)")
		}
		t.Skip("tmux is not installed")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("vxtap-top-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	// The pane's shell reaps the command and notes its status: tmux
	// itself does not always report the status of a pane's process.
	s.exitFile = filepath.Join(t.TempDir(), "exit")
	cmd := strings.Join(quoteAll(argv), " ") + "; echo $? > " + quoteAll([]string{s.exitFile})[0]
	s.run("new-session", "-d", "-s", "top", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), cmd)
	s.run("set-option", "-t", "top", "remain-on-exit", "on") // keep the pane to see it dead
	return s
}

func quoteAll(argv []string) []string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return q
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.run("capture-pane", "-p", "-t", "top") }

// keys sends tmux key names (s, Enter, Escape, ...).
func (s *tmuxSession) keys(keys ...string) {
	s.run(append([]string{"send-keys", "-t", "top"}, keys...)...)
}

// text types literal text.
func (s *tmuxSession) text(txt string) { s.run("send-keys", "-t", "top", "-l", txt) }

// waitFor polls the screen until ok holds; the last screen is in the failure.
func (s *tmuxSession) waitFor(what string, ok func(screen string) bool) string {
	s.t.Helper()
	var scr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if scr = s.screen(); ok(scr) {
			return scr
		}
	}
	s.t.Fatalf("timed out waiting for %s; screen:\n%s", what, scr)
	return ""
}

// dataRows are the table's rows: the lines after the column header,
// up to the first empty line.
func dataRows(screen string) []string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "VNI ") {
			var rows []string
			for _, r := range lines[i+1:] {
				if strings.TrimSpace(r) == "" {
					break
				}
				rows = append(rows, r)
			}
			return rows
		}
	}
	return nil
}

func firstRowHas(screen string, words ...string) bool {
	rows := dataRows(screen)
	if len(rows) == 0 {
		return false
	}
	for _, w := range words {
		if !strings.Contains(rows[0], w) {
			return false
		}
	}
	return true
}

// TestTopTmux drives the interactive view in a real terminal (tmux)
// against a fake daemon with known flows, and reads the screen back.
func TestTopTmux(t *testing.T) {
	bin := vxtapBin(t)
	srv, sock := fakeDaemon(t)
	tm := newTmux(t, 150, 30, bin, "top", "--socket", sock, "--iface", "lab0")

	// Heaviest flow by rate first.
	scr := tm.waitFor("the first view", func(s string) bool {
		return strings.Contains(s, "sort: rate") && firstRowHas(s, "198.18.1.10", "198.19.1.20", "80.0 Mb/s")
	})
	if rows := dataRows(scr); len(rows) != 5 {
		t.Errorf("5-tuple view: %d rows, want the 5 flows:\n%s", len(rows), scr)
	}
	for _, want := range []string{"vxtap top  lab0 (daemon)", "flows 5", "mirror", "drops 4", "ring buffer lost 2",
		"VNI  SOURCE", "PKT/S", "BITS/S", "BYTES", "2001:db8:1::10"} {
		if !strings.Contains(scr, want) {
			t.Errorf("first view lacks %q:\n%s", want, scr)
		}
	}

	// s: by total bytes, then by packets/s.
	tm.keys("s")
	tm.waitFor("sort by bytes", func(s string) bool {
		return strings.Contains(s, "sort: bytes") && firstRowHas(s, "198.18.1.11", "9.00 GB")
	})
	tm.keys("s")
	tm.waitFor("sort by packets", func(s string) bool {
		return strings.Contains(s, "sort: packets") && firstRowHas(s, "198.18.2.10", "20.0K")
	})

	// g: by source IP; the two flows of 198.18.1.10 become one row.
	tm.keys("g")
	scr = tm.waitFor("grouping by source", func(s string) bool {
		return strings.Contains(s, "group: source IP") && len(dataRows(s)) == 4
	})
	if !strings.Contains(scr, "FLOWS") {
		t.Errorf("grouped view has no FLOWS column:\n%s", scr)
	}
	var merged string
	for _, r := range dataRows(scr) {
		if strings.Contains(r, "198.18.1.10") {
			merged = r
		}
	}
	if f := strings.Fields(merged); len(f) < 3 || f[2] != "*" || !strings.Contains(merged, " 2 ") {
		t.Errorf("198.18.1.10 row should have destination * and 2 flows: %q", merged)
	}

	// /: a filter hides everything else.
	tm.keys("/")
	tm.waitFor("the filter prompt", func(s string) bool { return strings.Contains(s, "filter: ") && !strings.Contains(s, "q quit") })
	tm.text("port 443")
	tm.keys("Enter")
	scr = tm.waitFor("the filtered view", func(s string) bool {
		return strings.Contains(s, "filter: port 443") && len(dataRows(s)) == 1
	})
	if !firstRowHas(scr, "198.18.1.10", "7.20K") || strings.Contains(scr, "198.18.1.11") || strings.Contains(scr, "198.18.2.10") {
		t.Errorf("filter port 443 should leave 198.18.1.10 alone (2 flows, 7.20K pkt/s):\n%s", scr)
	}

	// A bad filter is explained and the view keeps the old one.
	tm.keys("/", "C-u")
	tm.text("port https")
	tm.keys("Enter")
	tm.waitFor("the filter error", func(s string) bool {
		return strings.Contains(s, `filter: port "https": want a number from 0 to 65535`)
	})
	tm.keys("Escape")
	// A key sent right behind Escape can be read as Alt+key: wait for the
	// prompt to close first.
	tm.waitFor("the prompt closed", func(s string) bool { return !strings.Contains(s, "port https") })

	// ?: help, any key back.
	tm.keys("?")
	tm.waitFor("help", func(s string) bool {
		return strings.Contains(s, "vxtap top: keys") && strings.Contains(s, "pause / resume")
	})
	tm.keys("x")
	tm.waitFor("the view after help", func(s string) bool { return strings.Contains(s, "filter: port 443") })

	// A resize re-lays the view.
	tm.run("resize-window", "-t", "top", "-x", "90", "-y", "12")
	scr = tm.waitFor("the resized view", func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return len(lines) <= 12 && firstRowHas(s, "198.18.1.10")
	})
	for _, l := range strings.Split(scr, "\n") {
		if len([]rune(l)) > 90 {
			t.Errorf("line wider than the 90-column window: %q", l)
		}
	}

	// The daemon goes away: a clear message, no stack trace.
	srv.Close()
	scr = tm.waitFor("the no-daemon message", func(s string) bool {
		return strings.Contains(s, "no vxtap daemon on lab0")
	})
	if strings.Contains(scr, "goroutine") || strings.Contains(scr, "panic") {
		t.Errorf("stack trace on screen:\n%s", scr)
	}

	// q: a clean exit, status 0, and the pane's process is gone.
	tm.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(tm.exitFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			if st := strings.TrimSpace(string(b)); st != "0" {
				t.Fatalf("vxtap top exited with %s after q; screen:\n%s", st, tm.screen())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vxtap top still runs 10 s after q; screen:\n%s", tm.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tm.waitFor("the pane to end", func(string) bool {
		return strings.TrimSpace(tm.run("display-message", "-p", "-t", "top", "#{pane_dead}")) == "1"
	})
}

// TestTopOnce covers the non-interactive modes and their errors.
func TestTopOnce(t *testing.T) {
	bin := vxtapBin(t)
	_, sock := fakeDaemon(t)
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, append([]string{"top", "--socket", sock}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	tests := []struct {
		name  string
		args  []string
		first string // words of the first data row
		rows  int
	}{
		{"default: by rate", []string{"--once"}, "198.18.1.10 198.19.1.20", 5},
		{"sort bytes, n 2", []string{"--once", "--sort", "bytes", "--n", "2"}, "198.18.1.11", 2},
		{"group dport", []string{"--once", "--group", "dport"}, "* -> 443", 4},
		{"filter", []string{"--once", "--filter", "vni 102 udp"}, "198.18.2.10", 1},
		{"not a terminal means once", nil, "198.18.1.10", 5},
	}
	for _, tc := range tests {
		out, stderr, code := run(tc.args...)
		rows := dataRows(out)
		if code != 0 || len(rows) != tc.rows || !firstRowHas(out, strings.Fields(tc.first)...) {
			t.Errorf("%s: exit %d, %d rows, want %d with %q first:\n%s%s", tc.name, code, len(rows), tc.rows, tc.first, out, stderr)
		}
	}

	out, _, code := run("--json", "--group", "src", "--n", "1")
	var res topview.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("--json: exit %d, %v:\n%s", code, err, out)
	}
	if res.Group != topview.GroupSrc || len(res.Rows) != 1 || res.Rows[0].Src.String() != "198.18.1.10" || res.Rows[0].Flows != 2 ||
		res.Header.Flows != 5 || res.Header.Datapath == nil || res.Iface != "lab0" {
		t.Errorf("--json: %+v", res)
	}

	errs := []struct {
		args []string
		want string
	}{
		{[]string{"--once", "--sort", "speed"}, `flag --sort: unknown sort "speed": want one of rate, bytes, packets`},
		{[]string{"--once", "--group", "asn"}, `flag --group: unknown grouping "asn"`},
		{[]string{"--once", "--filter", "port"}, `flag --filter: "port" needs a value after it`},
		{[]string{"--once", "--n", "-3"}, `flag --n: -3: want 0 (the most, 10000) to 10000`},
		{[]string{"--once", "--interval", "1ms"}, `flag --interval: 1ms is too short`},
	}
	for _, tc := range errs {
		_, stderr, code := run(tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestTopNoDaemon: no daemon and no pinned maps is one clear line.
func TestTopNoDaemon(t *testing.T) {
	bin := vxtapBin(t)
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"top", "--once", "--iface", "eth7"},
			"vxtap top: no vxtap daemon on eth7: " + filepath.Join(dir, "eth7.sock") + " does not exist (is `vxtap run --iface eth7` running?)\n"},
		{[]string{"top", "--iface", "eth7"}, // interactive: fails before taking the terminal
			"vxtap top: no vxtap daemon on eth7: " + filepath.Join(dir, "eth7.sock") + " does not exist (is `vxtap run --iface eth7` running?)\n"},
		{[]string{"top", "--once"},
			"vxtap top: no vxtap daemon runs (no socket under " + dir + "): start one with `vxtap run --iface IF`, or name the interface with --iface\n"},
	}
	for _, tc := range tests {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), "VXTAP_RUN_DIR="+dir, "VXTAP_PIN_ROOT="+filepath.Join(dir, "pins"))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || errb.String() != tc.want || out.Len() != 0 {
			t.Errorf("%v: %v\nstdout %q\nstderr %q\nwant   %q", tc.args, err, out.String(), errb.String(), tc.want)
		}
	}
}

// closingTable is the in-memory table, noting whether top closed it.
type closingTable struct {
	*flowtest.Table
	closed bool
}

func (c *closingTable) Close() error { c.closed = true; return nil }

// TestTopPinnedFallback: with no daemon, top reads the pinned flow table
// through the loader hook, keeps the rates itself, and says so.
func TestTopPinnedFallback(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VXTAP_RUN_DIR", dir)
	tab := &closingTable{Table: flowtest.NewTable()}
	k := flow.Key{VNI: 101, Src: netip.MustParseAddr("198.18.1.10"), Dst: netip.MustParseAddr("198.19.1.20"), Proto: 6, SPort: 40001, DPort: 443}
	tab.Packet(k, 1000, time.Now().Add(-time.Minute), 0)

	old, oldRoot := pinnedFlows, loader.PinRoot
	t.Cleanup(func() { pinnedFlows, loader.PinRoot = old, oldRoot })
	loader.PinRoot = filepath.Join(dir, "pins")
	opens := func(string) (flow.FlowSource, error) { return tab, nil }
	noDaemon := "no vxtap daemon on lab9: " + filepath.Join(dir, "lab9.sock") + " does not exist (is `vxtap run --iface lab9` running?)"
	tests := []struct {
		name   string
		pinned bool // the pin directory exists
		opener PinnedOpener
		want   string // error; "" = the pinned source opens
	}{
		{"no loader hook: no daemon", true, nil, noDaemon},
		{"nothing pinned: no daemon", false, opens, noDaemon},
		{"pins unreadable", true, func(string) (flow.FlowSource, error) { return nil, fmt.Errorf("map flows is not pinned") },
			noDaemon + "; and the pinned maps under " + filepath.Join(dir, "pins", "lab9") + " cannot be read: map flows is not pinned"},
		{"pinned maps", true, opens, ""},
	}
	for _, tc := range tests {
		pinnedFlows = tc.opener
		os.RemoveAll(loader.PinRoot)
		if tc.pinned {
			os.MkdirAll(loader.PinDir("lab9"), 0o700)
		}
		src, err := openTopSource("lab9", "", 200*time.Millisecond)
		if tc.want != "" {
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		res, err := src.Top(context.Background(), topview.DefaultQuery())
		if err != nil {
			t.Fatal(err)
		}
		if res.Source != "pinned" || res.Note != "reading pinned maps under "+loader.PinDir("lab9")+" (no daemon running)" ||
			res.Header.IntervalSeconds != 0 || len(res.Rows) != 1 {
			t.Errorf("first read: %+v", res)
		}
		for i := 0; i < 10; i++ {
			tab.Packet(k, 1000, time.Now(), 0)
		}
		time.Sleep(200 * time.Millisecond)
		res, err = src.Top(context.Background(), topview.DefaultQuery())
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Rows[0]; res.Header.IntervalSeconds == 0 || r.PacketsPerSecond < 10 || r.BitsPerSecond < 8*10_000 || r.Packets != 11 {
			t.Errorf("second read should carry rates of 10 packets over ~0.2 s: %+v %+v", res.Header, r)
		}
		if got := topview.Render(res, 0).String(); !strings.Contains(got, "reading pinned maps under") || !strings.Contains(got, "lab9 (pinned)") {
			t.Errorf("the table does not say it reads pinned maps:\n%s", got)
		}
		src.Close()
		if !tab.closed {
			t.Error("the pinned source was not closed")
		}
	}
}
