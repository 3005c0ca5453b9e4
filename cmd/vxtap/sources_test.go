package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/testutil"
)

func TestParseSources(t *testing.T) {
	got, err := parseSources(" 198.18.0.0/15, 2001:db8::1 ,198.19.1.7/24,")
	want := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("198.19.1.0/24")}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseSources: %v, %v; want %v", got, err, want)
	}
	if _, err := parseSources("198.18.0.0/15,nonsense"); err == nil || !strings.Contains(err.Error(), `--allowed-sources: "nonsense"`) {
		t.Errorf("bad CIDR: %v, want an error naming the flag and the value", err)
	}
}

// TestSourcesReload: the trusted sources are the flag's plus the config's,
// applied at start and again on SIGHUP; a configuration that would leave
// none is refused and the running ones kept.
func TestSourcesReload(t *testing.T) {
	testutil.RequirePrivileged(t)
	path := filepath.Join(t.TempDir(), "s.yaml")
	put := func(sources string) {
		doc := "sessions: {42: {action: analyze}}\n" + sources
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	put("allowed_sources: [198.18.0.0/24]\n")
	r := &filterReloader{config: path, flagSources: []netip.Prefix{netip.MustParsePrefix("2001:db8:ff::/64")}}
	comp, err := r.compile()
	if err != nil {
		t.Fatal(err)
	}
	r.initial = comp
	cfg := loader.DefaultConfig()
	cfg.FilterEnabled = true
	cfg.SourceCheck = true
	r.checking = true
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
	list := func() string {
		l, err := o.Sources().List()
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(l)
	}
	waitFor := func(want string, ok, ko uint64) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			r.mu.Lock()
			done := r.reloadsOK == ok && r.reloadsKO == ko
			r.mu.Unlock()
			if done && list() == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("sources %s (want %s), reloads ok %d error %d", list(), want, r.reloadsOK, r.reloadsKO)
	}
	waitFor("[198.18.0.0/24 2001:db8:ff::/64]", 0, 0)
	put("allowed_sources: [198.18.1.0/24, 198.18.2.0/24]\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("[198.18.1.0/24 198.18.2.0/24 2001:db8:ff::/64]", 1, 0)
	// Without the flag's source, none would be left: refused.
	r.flagSources = nil
	put("")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor("[198.18.1.0/24 198.18.2.0/24 2001:db8:ff::/64]", 1, 1)
}
