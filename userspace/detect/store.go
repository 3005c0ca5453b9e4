package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// dedupKey names "the same thing detected again": one finding per type,
// session, role, local and remote address and (for DNS) domain.
type dedupKey struct {
	typ    string
	vni    uint32
	role   Role
	local  netip.Addr
	remote netip.Addr
	domain string
}

// Store keeps the findings, one per dedupKey: a new detection of the
// same thing updates it (count, last seen, evidence) instead of adding
// another. It holds at most a fixed number; the least recently updated
// goes first.
type Store struct {
	mu    sync.Mutex
	byKey map[dedupKey]*entry
	limit int
	seq   uint64 // bumps on every change, for followers
}

type entry struct {
	f        Finding
	seq      uint64    // store sequence of the last change
	notified time.Time // last time sinks were told
}

// NewStore keeps at most limit findings.
func NewStore(limit int) *Store {
	return &Store{byKey: map[dedupKey]*entry{}, limit: max(limit, 1)}
}

// upsert records a detection as a new finding or an update. notify says
// whether sinks should hear about it now: always for a new finding,
// for an update at most once per every.
func (s *Store) upsert(k dedupKey, f Finding, every time.Duration) (out Finding, created, notify bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	if e, ok := s.byKey[k]; ok {
		g := &e.f
		g.Service.Count += f.Service.Count
		if f.Service.EventLastSeen.After(g.Service.EventLastSeen) {
			g.Service.EventLastSeen = f.Service.EventLastSeen
		}
		if f.Service.EventFirstSeen.Before(g.Service.EventFirstSeen) {
			g.Service.EventFirstSeen = f.Service.EventFirstSeen
		}
		g.UpdatedAt = f.UpdatedAt
		g.Severity = max(g.Severity, f.Severity)
		g.Service.Action = f.Service.Action
		g.Vxtap.Evidence = f.Vxtap.Evidence
		e.seq = s.seq
		if f.UpdatedAt.Sub(e.notified) >= every {
			e.notified = f.UpdatedAt
			notify = true
		}
		return *g, false, notify
	}
	if len(s.byKey) >= s.limit {
		s.evictOldest()
	}
	f.ID = findingID(k, f.CreatedAt)
	s.byKey[k] = &entry{f: f, seq: s.seq, notified: f.UpdatedAt}
	return f, true, true
}

func (s *Store) evictOldest() {
	var old dedupKey
	var oldT time.Time
	first := true
	for k, e := range s.byKey {
		if first || e.f.UpdatedAt.Before(oldT) {
			old, oldT, first = k, e.f.UpdatedAt, false
		}
	}
	delete(s.byKey, old)
}

// findingID is 32 hex digits, as GuardDuty's ids, stable for a finding.
func findingID(k dedupKey, created time.Time) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%s|%s|%s|%s|%d", k.typ, k.vni, k.role, k.local, k.remote, k.domain, created.UnixNano()))
	return hex.EncodeToString(sum[:16])
}

// Query selects findings for List.
type Query struct {
	After       uint64  // only findings changed after this store sequence
	Type        string  // only this type
	MinSeverity float64 // only at least this severity
}

// List returns the matching findings, least recently updated first, and
// the store's sequence to ask After next time.
func (s *Store) List(q Query) ([]Finding, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		f   Finding
		seq uint64
	}
	var items []item
	for _, e := range s.byKey {
		if e.seq <= q.After || (q.Type != "" && e.f.Type != q.Type) || e.f.Severity < q.MinSeverity {
			continue
		}
		items = append(items, item{e.f, e.seq})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	out := make([]Finding, len(items))
	for i, it := range items {
		out[i] = it.f
	}
	return out, s.seq
}

// Len is how many findings are held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byKey)
}
