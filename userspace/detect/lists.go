package detect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/vxtap/vxtap/userspace/flow"
)

// prefixSet matches addresses against a set of CIDRs (addresses are
// host prefixes): one hash lookup per prefix length present, so a list
// of a million single addresses costs one lookup per family.
type prefixSet struct {
	set  map[netip.Prefix]string // masked prefix -> where it came from (file:line)
	lens [2][]int                // prefix lengths present, longest first: [0] IPv4, [1] IPv6
}

func newPrefixSet() *prefixSet { return &prefixSet{set: map[netip.Prefix]string{}} }

func (s *prefixSet) add(p netip.Prefix, origin string) {
	p = p.Masked()
	if _, dup := s.set[p]; dup {
		return
	}
	s.set[p] = origin
	fam := 0
	if p.Addr().Is6() {
		fam = 1
	}
	for _, l := range s.lens[fam] {
		if l == p.Bits() {
			return
		}
	}
	s.lens[fam] = append(s.lens[fam], p.Bits())
	sort.Sort(sort.Reverse(sort.IntSlice(s.lens[fam])))
}

// lookup returns the longest listed prefix holding a, and its origin.
func (s *prefixSet) lookup(a netip.Addr) (netip.Prefix, string, bool) {
	if s == nil || !a.IsValid() {
		return netip.Prefix{}, "", false
	}
	a = a.Unmap()
	fam := 0
	if a.Is6() {
		fam = 1
	}
	for _, l := range s.lens[fam] {
		p, _ := a.Prefix(l)
		if o, ok := s.set[p]; ok {
			return p, o, true
		}
	}
	return netip.Prefix{}, "", false
}

func (s *prefixSet) len() int {
	if s == nil {
		return 0
	}
	return len(s.set)
}

// maxThreatLists: list ids travel as 16 bits through the kernel's event.
const maxThreatLists = 0xffff

// listLimit bounds a list file: a runaway file must not take the
// appliance's memory.
const listLimit = 64 << 20

// readPrefixFile reads a threat or pool list: one IPv4/IPv6 address or
// CIDR per line; blank lines and # comments are skipped, a trailing
// comment after the entry too. A bad line fails the whole file with its
// file:line, so a half-read list never replaces a good one.
func readPrefixFile(path string, into *prefixSet) error {
	return readLines(path, func(line int, s string) error {
		p, err := parsePrefix(s)
		if err != nil {
			return err
		}
		into.add(p, fmt.Sprintf("%s:%d", path, line))
		return nil
	})
}

// readDomainFile reads one domain per line (a leading "*." is allowed;
// every name under a listed domain matches).
func readDomainFile(path string, into map[string]string) error {
	return readLines(path, func(line int, s string) error {
		d, err := normDomain(s)
		if err != nil {
			return err
		}
		into[d] = fmt.Sprintf("%s:%d", path, line)
		return nil
	})
}

func readLines(path string, fn func(line int, s string) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(data) > listLimit {
		return fmt.Errorf("%s: %d bytes, over the %d-byte limit of a list", path, len(data), listLimit)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<16)
	for n := 1; sc.Scan(); n++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if err := fn(n, s); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// lists are the compiled threat, pool and domain lists of one
// configuration.
type lists struct {
	threats *prefixSet
	// threatEntries are the threat prefixes with their list ids (the
	// 1-based index in ThreatLists), for the kernel's trie.
	threatEntries []flow.ThreatEntry
	threatFiles   []string // list id - 1 -> file
	pools         *prefixSet
	domains       map[string]string    // mining domain -> origin
	stamps        map[string]fileStamp // each file as it was just before it was read
}

// loadLists reads every list file and the inline entries of cfg.
func loadLists(cfg *Config) (*lists, error) {
	l := &lists{threats: newPrefixSet(), pools: newPrefixSet(), domains: map[string]string{}, stamps: map[string]fileStamp{}}
	for _, f := range listFiles(cfg) {
		l.stamps[f] = stampOf(f)
	}
	if len(cfg.ThreatLists) > maxThreatLists {
		return nil, fmt.Errorf("threat lists: %d files, at most %d", len(cfg.ThreatLists), maxThreatLists)
	}
	for i, f := range cfg.ThreatLists {
		one := newPrefixSet()
		if err := readPrefixFile(f, one); err != nil {
			return nil, fmt.Errorf("threat list: %w", err)
		}
		for p, origin := range one.set {
			if _, dup := l.threats.set[p]; dup {
				continue // the first list naming a prefix keeps it
			}
			l.threats.add(p, origin)
			l.threatEntries = append(l.threatEntries, flow.ThreatEntry{Prefix: p, List: uint16(i + 1)})
		}
	}
	l.threatFiles = append([]string(nil), cfg.ThreatLists...)
	for _, p := range cfg.Mining.Pools {
		l.pools.add(p, "detect.mining.pools")
	}
	for _, f := range cfg.Mining.PoolLists {
		if err := readPrefixFile(f, l.pools); err != nil {
			return nil, fmt.Errorf("mining pool list: %w", err)
		}
	}
	for _, d := range cfg.Mining.Domains {
		l.domains[d] = "detect.mining.domains"
	}
	for _, f := range cfg.Mining.DomainLists {
		if err := readDomainFile(f, l.domains); err != nil {
			return nil, fmt.Errorf("mining domain list: %w", err)
		}
	}
	return l, nil
}

// listFiles are the files loadLists reads, for the change watcher.
func listFiles(cfg *Config) []string {
	out := append([]string(nil), cfg.ThreatLists...)
	out = append(out, cfg.Mining.PoolLists...)
	return append(out, cfg.Mining.DomainLists...)
}

// matchDomain returns the listed domain name is, or is under.
func (l *lists) matchDomain(name string) (string, bool) {
	if l == nil || len(l.domains) == 0 {
		return "", false
	}
	for i := 0; i <= 127; i++ { // at most 127 labels in a 255-byte name
		if _, ok := l.domains[name]; ok {
			return name, true
		}
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			return "", false
		}
		name = name[dot+1:]
	}
	return "", false
}

// fileStamp is what the watcher compares to see a list file changed.
type fileStamp struct {
	size  int64
	mtime int64
	ok    bool
}

func stampOf(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{size: st.Size(), mtime: st.ModTime().UnixNano(), ok: true}
}

// CountLists reads cfg's lists as the engine would and counts their
// entries (vxtap findings check).
func CountLists(cfg *Config) (threats, pools, domains int, err error) {
	l, err := loadLists(cfg)
	if err != nil {
		return 0, 0, 0, err
	}
	return l.threats.len(), l.pools.len(), len(l.domains), nil
}
