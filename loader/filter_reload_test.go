package loader

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// Two rule sets that decide the reload test's packets differently: A
// accepts them by rule 10 (IPv4) or 11 (IPv6); B rejects them by rule 20
// or 21. (The IPv6 packet has no direction by outer source: the session
// evaluates it as ingress.) A packet classified by a mix of the two (say A's CIDR tables with
// B's rules) would be decided by B's rule 5, 6 or 30, or by a no-match.
const (
	reloadA = `
sessions: {42: {filter: A, unknown_direction: ingress}}
amazon_dns: []
filters:
  A:
    ingress:
      - {rule: 10, action: accept, protocol: tcp, source: 10.1.0.0/16}
      - {rule: 11, action: accept, protocol: tcp, source: "2001:db8:1::/48"}
      - {rule: 20, action: reject}
`
	reloadB = `
sessions: {42: {filter: B, unknown_direction: ingress}}
amazon_dns: []
filters:
  B:
    ingress:
      - {rule: 5, action: accept, source: 10.1.0.0/24}
      - {rule: 6, action: accept, source: "2001:db8:1::/64"}
      - {rule: 20, action: reject, protocol: tcp, destination_ports: 443, source: 10.1.1.0/24}
      - {rule: 21, action: reject, protocol: tcp, destination_ports: 443, source: "2001:db8:1:1::/64"}
      - {rule: 30, action: accept}
`
)

func compileYAML(t testing.TB, name, doc string) *filter.Compiled {
	t.Helper()
	b := filter.NewBuilder()
	b.Add(name, []byte(doc), filter.DocConfig)
	cfg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return filter.Compile(cfg)
}

// TestFilterReloadUnderTraffic reloads A and B back and forth while two
// threads run packets through the program. Every packet must be decided by
// one of the four expected rules (never by a mixed rule set), and every
// packet run must be counted once (none lost, even across the counters of
// retired generations).
func TestFilterReloadUnderTraffic(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	fm := o.FilterMaps()
	sets := []*filter.Compiled{compileYAML(t, "A.yaml", reloadA), compileYAML(t, "B.yaml", reloadB)}
	frames := [][]byte{
		filterFrame(t, filter.Packet{VNI: 42, OuterSrc: outerSrc4, Src: netip.MustParseAddr("10.1.1.1"), Dst: outerSrc4, Proto: 6, SrcPort: 1000, DstPort: 443}),
		filterFrame(t, filter.Packet{VNI: 42, OuterSrc: outerSrc4, Src: netip.MustParseAddr("2001:db8:1:1::1"), Dst: in6b, Proto: 6, SrcPort: 1000, DstPort: 443}),
	}
	rejectBase, flowBase := reasonPackets(t, o, "filter_reject"), reasonPackets(t, o, "flow")
	totals := map[string]uint64{}
	collect := func(hits []RuleHit) {
		for _, h := range hits {
			if h.Packets > 0 {
				totals[fmt.Sprintf("%s %s %d %s", h.Kind, h.Filter, h.Rule, h.Action)] += h.Packets
			}
		}
	}
	if _, err := fm.Apply(sets[0]); err != nil {
		t.Fatal(err)
	}

	var sent atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Repeat 1: an interrupted run with a repeat is retried
				// whole, which would run some packets twice.
				if _, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: frames[(i+w)%len(frames)]}); err != nil {
					errs <- err
					return
				}
				sent.Add(1)
			}
		}(w)
	}
	reloads := 0
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		retired, err := fm.Apply(sets[(reloads+1)%2])
		if err != nil {
			t.Fatal(err)
		}
		collect(retired)
		reloads++
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	hits, err := fm.HitCounts()
	if err != nil {
		t.Fatal(err)
	}
	collect(hits)

	accepted := totals["rule A 10 accept"] + totals["rule A 11 accept"]
	rejected := totals["rule B 20 reject"] + totals["rule B 21 reject"]
	t.Logf("%d packets, %d reloads: %v", sent.Load(), reloads, totals)
	if len(totals) != 4 {
		t.Errorf("packets were decided by rules other than A 10, A 11, B 20, B 21: %v", totals)
	}
	if accepted+rejected != sent.Load() {
		t.Errorf("hit counters hold %d packets, %d were run", accepted+rejected, sent.Load())
	}
	if got := reasonPackets(t, o, "flow") - flowBase; got != accepted {
		t.Errorf("flow counted %d, rule A accepted %d", got, accepted)
	}
	if got := reasonPackets(t, o, "filter_reject") - rejectBase; got != rejected {
		t.Errorf("filter_reject counted %d, rule B rejected %d", got, rejected)
	}
	if reloads < 20 || accepted == 0 || rejected == 0 {
		t.Errorf("too little happened: %d reloads, %d accepted, %d rejected", reloads, accepted, rejected)
	}
}
