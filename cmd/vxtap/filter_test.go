package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// attachFiltered loads the program with the filter on, pinned under the
// interface's pin directory, and attaches it to iface inside namespace ns,
// as `vxtap run` would, then lets go of it: the pins keep it running.
func attachFiltered(t *testing.T, ns, iface string) {
	t.Helper()
	defer testutil.EnterNetns(t, ns)()
	cfg := loader.DefaultConfig()
	cfg.FilterEnabled = true
	cfg.PinPath = loader.PinDir(iface)
	o, err := loader.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	t.Cleanup(func() { inNetns(t, ns, func() { loader.Detach(iface) }) })
	att, err := o.Attach(iface, loader.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	att.Link.Close()
}

// hitsJSON runs `vxtap filter hits --json` and indexes packets by
// "kind filter direction rule".
func hitsJSON(t *testing.T, bin, ns, iface string) map[string]uint64 {
	t.Helper()
	argv := testutil.InNetns(ns, bin, "filter", "hits", "--iface", iface, "--json") // pins are keyed by namespace
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("filter hits: %v %s", err, stderrOf(err))
	}
	var hits []loader.RuleHit
	if err := json.Unmarshal(out, &hits); err != nil {
		t.Fatalf("filter hits JSON: %v\n%s", err, out)
	}
	m := map[string]uint64{}
	for _, h := range hits {
		if h.Kind == loader.HitRule {
			m[h.Filter+" "+h.Dir.String()+" "+strconv.Itoa(h.Rule)] = h.Packets
		}
	}
	return m
}

// TestFilterApplyCLI: `vxtap filter apply` installs rules into the pinned
// tables of a program attached to a real interface; copies of traffic
// through a Linux VXLAN device are then rejected or analyzed by rule, as
// `vxtap filter hits` shows. A rule set with an error is refused and the
// running rules keep deciding.
func TestFilterApplyCLI(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	src := testutil.Netns(t, "vxflt-src")
	app := testutil.Netns(t, "vxflt-app")
	iface, dst := testutil.VXLANPair(t, src, app, 42, 84)
	attachFiltered(t, app, iface)
	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("a.yaml", `
sessions:
  42: {filter: f, addresses: [198.19.84.1]}
filters:
  f:
    egress:
      - {rule: 10, action: reject, protocol: udp, destination_ports: 9999}
      - {rule: 20, action: accept, protocol: udp}
`)
	bad := write("bad.yaml", `
sessions:
  42: {filter: f, addresses: [198.19.84.1]}
filters:
  f:
    egress:
      - {rule: 10, action: accept, protocol: udp, destination_ports: 99999}
`)
	if out, err := inNsCmd(app, bin, "filter", "apply", "--iface", iface, good).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "applied to "+iface) || strings.Contains(string(out), "warning: the program") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	n1 := <-sendUDP(t, src, dst, 9999, 400*time.Millisecond)
	n2 := <-sendUDP(t, src, dst, 5000, 400*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	hits := hitsJSON(t, bin, app, iface)
	if hits["f egress 10"] != uint64(n1) || hits["f egress 20"] != uint64(n2) {
		t.Fatalf("hits %v, sent %d to port 9999 (rule 10) and %d to 5000 (rule 20)", hits, n1, n2)
	}

	out, err := inNsCmd(app, bin, "filter", "apply", "--iface", iface, bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":7:") || !strings.Contains(string(out), "rule 10") {
		t.Fatalf("bad apply: %v\n%s", err, out)
	}
	n3 := <-sendUDP(t, src, dst, 9999, 300*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	if h := hitsJSON(t, bin, app, iface); h["f egress 10"] != uint64(n1+n3) {
		t.Fatalf("after a refused apply, rule 10 has %d packets, want %d: %v", h["f egress 10"], n1+n3, h)
	}
	t.Logf("rule 10 rejected %d+%d, rule 20 accepted %d; a bad rule set was refused", n1, n3, n2)
}

// TestFilterSIGHUPReload: the daemon's reloader applies its file at start,
// re-reads it on SIGHUP, and keeps the running rules when the file turns
// bad.
func TestFilterSIGHUPReload(t *testing.T) {
	testutil.RequirePrivileged(t)
	path := filepath.Join(t.TempDir(), "f.yaml")
	put := func(action string) {
		doc := "sessions: {42: {name: s-" + action + ", filter: f}}\nfilters:\n  f:\n    ingress:\n      - {rule: 1, action: " + action + "}\n"
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put("accept")
	r := &filterReloader{config: path}
	comp, err := r.compile()
	if err != nil {
		t.Fatal(err)
	}
	r.initial = comp
	cfg := loader.DefaultConfig()
	cfg.FilterEnabled = true
	o, err := loader.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.start(ctx, o, ""); err != nil {
		t.Fatal(err)
	}
	action := func() string {
		hits, err := r.maps.HitCounts()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if h.Kind == loader.HitRule {
				return h.Action.String()
			}
		}
		return "none"
	}
	waitFor := func(want string, ok, ko uint64) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			r.mu.Lock()
			done := r.reloadsOK == ok && r.reloadsKO == ko
			r.mu.Unlock()
			if done && action() == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("rule 1 is %s (want %s), reloads ok %d error %d", action(), want, r.reloadsOK, r.reloadsKO)
	}
	waitFor("accept", 0, 0)
	put("reject")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("reject", 1, 0)
	if n := r.Sessions().Name(42); n != "s-reject" {
		t.Errorf("after the reload records of VNI 42 would name session %q, want s-reject", n)
	}
	os.WriteFile(path, []byte("filters: {f: {ingress: [{rule: 0}]}}\n"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("reject", 1, 1)
	if n := r.Sessions().Name(42); n != "s-reject" {
		t.Errorf("a failed reload changed the sessions: VNI 42 is %q", n)
	}
}
