package flowtest

import (
	"fmt"
	"sync"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Threats is an in-memory flow.ThreatTable: it keeps the entries last
// set and refuses more than Cap of them, as the kernel's trie does.
type Threats struct {
	Cap     int
	mu      sync.Mutex
	entries []flow.ThreatEntry
	sets    int
}

// SetThreats implements flow.ThreatTable.
func (t *Threats) SetThreats(es []flow.ThreatEntry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(es) > t.Cap {
		return fmt.Errorf("%d threat-listed prefixes, the table holds %d", len(es), t.Cap)
	}
	t.entries = append([]flow.ThreatEntry(nil), es...)
	t.sets++
	return nil
}

// ThreatCapacity implements flow.ThreatTable.
func (t *Threats) ThreatCapacity() int { return t.Cap }

// Entries is what the table holds, and how many times it was set.
func (t *Threats) Entries() ([]flow.ThreatEntry, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]flow.ThreatEntry(nil), t.entries...), t.sets
}
