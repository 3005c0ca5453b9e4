package detect

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// exfilState counts one source's suspicious DNS queries in the window.
type exfilState struct {
	start  int64
	n      uint32
	domain string   // parent domain of the first suspicious query
	names  []string // the first few suspicious names, as evidence
	first  time.Time
	fired  bool
}

// maxEvidenceNames bounds the names kept as evidence.
const maxEvidenceNames = 5

// dnsObs stands in for a flow observation in a DNS finding.
func (e *Engine) dnsObs(q *DNSQuery) *obs {
	o := &obs{vni: q.VNI, mirror: q.MirrorSource, sess: e.sessions[q.VNI],
		key: flow.Key{VNI: q.VNI, Src: q.Src, Dst: q.Dst, Proto: 17, SPort: q.SPort, DPort: q.DPort}, first: q.Time, last: q.Time}
	o.dir = direction(o.sess, o.mirror, q.Src, q.Dst)
	return o
}

// onDNS: CryptoCurrency:EC2/BitcoinTool.B!DNS for a query for a listed
// mining domain; Trojan:EC2/DNSDataExfiltration for a rate of queries
// with long, high-entropy labels. The querier is the actor; a query
// coming in to the instance (it is a resolver) is left alone.
func (e *Engine) onDNS(q *DNSQuery) {
	o := e.dnsObs(q)
	if o.dir == flow.DirIngress {
		return
	}
	if dom, ok := e.lists.matchDomain(q.Name); ok {
		e.raise(detection{typ: TypeBitcoinToolDNS, role: Actor, o: o, local: q.Src, remote: q.Dst, proto: 17,
			domain: q.Name, dedupDom: dom, direction: Outbound, first: q.Time, last: q.Time, detector: "dns_mining",
			evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Names: []string{q.Name + " (listed: " + dom + ")"}}})
	}
	cfg := e.cfg.Exfil
	label := longestLabel(q.Name)
	if len(label) < cfg.MinLabel || entropy(label) < cfg.MinEntropy {
		return
	}
	s := e.exfils.get(hostKey{q.VNI, q.Src}, q.Time.UnixNano())
	if window(&s.start, q.Time, cfg.Window) {
		*s = exfilState{start: s.start, domain: parentDomain(q.Name), first: q.Time}
	}
	s.n++
	if len(s.names) < maxEvidenceNames {
		s.names = append(s.names, q.Name)
	}
	if s.fired || s.n < uint32(cfg.Queries) {
		return
	}
	s.fired = true
	e.raise(detection{typ: TypeDNSExfil, role: Actor, o: o, local: q.Src, remote: netip.Addr{}, proto: 17,
		domain: s.domain, dedupDom: s.domain, direction: Outbound, first: s.first, last: q.Time, detector: "dns_exfiltration",
		evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Window: cfg.Window.String(), Names: append([]string(nil), s.names...),
			Counts: map[string]float64{"suspicious_queries": float64(s.n)}}})
}

func longestLabel(name string) string {
	best := ""
	for l := range strings.SplitSeq(name, ".") {
		if len(l) > len(best) {
			best = l
		}
	}
	return best
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var freq [256]int
	for i := 0; i < len(s); i++ {
		freq[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range freq {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// parentDomain is the last two labels: the domain the data goes to
// (no public-suffix list; co.uk-style suffixes show one label short).
func parentDomain(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) <= 2 {
		return name
	}
	return strings.Join(parts[len(parts)-2:], ".")
}
