package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/vxtap/vxtap/userspace/filter"
	"golang.org/x/sys/unix"
)

// FilterMaps are the classifier's tables (bpf/include/filter_maps.h):
// those of a loaded program, or the pinned ones of a running daemon, so
// `vxtap filter apply` works with or without the daemon.
type FilterMaps struct {
	Gen      *ebpf.Map `ebpf:"filter_gen"`
	Sessions *ebpf.Map `ebpf:"filter_sessions"`
	VNI      *ebpf.Map `ebpf:"filter_vni"`
	ENI      *ebpf.Map `ebpf:"filter_eni"`
	V4Root   *ebpf.Map `ebpf:"filter_v4root"`
	V4Node   *ebpf.Map `ebpf:"filter_v4node"`
	LPM6     *ebpf.Map `ebpf:"filter_lpm6"`
	Proto    *ebpf.Map `ebpf:"filter_proto"`
	PortTop  *ebpf.Map `ebpf:"filter_port_top"`
	PortBlk  *ebpf.Map `ebpf:"filter_port_blk"`
	Bitsets  *ebpf.Map `ebpf:"filter_bitsets"`
	Rules    *ebpf.Map `ebpf:"filter_rules"`
	Hits     *ebpf.Map `ebpf:"rule_hits"`
	Rulesets *ebpf.Map `ebpf:"filter_rulesets"`

	dir   string     // pin directory, locked (flock) while applying; "" = in-process only
	mu    sync.Mutex // serialises Apply within the process
	owned bool       // opened from pins: Close closes the maps
	ncpu  int
}

// FilterMaps returns the loaded program's filter tables.
func (o *Objects) FilterMaps() *FilterMaps {
	m := o.VxtapMaps
	return &FilterMaps{Gen: m.FilterGen, Sessions: m.FilterSessions, VNI: m.FilterVni, ENI: m.FilterEni, V4Root: m.FilterV4root,
		V4Node: m.FilterV4node, LPM6: m.FilterLpm6, Proto: m.FilterProto, PortTop: m.FilterPortTop, PortBlk: m.FilterPortBlk,
		Bitsets: m.FilterBitsets, Rules: m.FilterRules, Hits: m.RuleHits, Rulesets: m.FilterRulesets,
		dir: o.Config.PinPath, ncpu: ebpf.MustPossibleCPU()}
}

// WithLock makes Apply take the flock of a pin directory, the lock
// `vxtap filter apply` takes: for objects re-opened from pins.
func (f *FilterMaps) WithLock(dir string) *FilterMaps {
	f.dir = dir
	return f
}

// OpenPinnedFilterMaps opens the filter tables pinned under an
// interface's pin directory.
func OpenPinnedFilterMaps(iface string) (*FilterMaps, error) {
	dir := PinDir(iface)
	f := &FilterMaps{dir: dir, owned: true, ncpu: ebpf.MustPossibleCPU()}
	if _, err := os.Stat(filepath.Join(dir, "filter_gen")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no vxtap filter tables pinned under %s (is `vxtap run --iface %s` running, or was it left attached?)", dir, iface)
	}
	if err := openPinnedMaps(dir, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close closes maps opened from pins.
func (f *FilterMaps) Close() error {
	if !f.owned {
		return nil
	}
	for _, m := range f.all() {
		if m != nil {
			m.Close()
		}
	}
	return nil
}

func (f *FilterMaps) all() []*ebpf.Map {
	return []*ebpf.Map{f.Gen, f.Sessions, f.VNI, f.ENI, f.V4Root, f.V4Node, f.LPM6, f.Proto, f.PortTop, f.PortBlk, f.Bitsets, f.Rules, f.Hits, f.Rulesets}
}

// ActiveGen is the generation the program classifies with.
func (f *FilterMaps) ActiveGen() (uint32, error) {
	var g uint32
	if err := f.Gen.Lookup(uint32(0), &g); err != nil {
		return 0, fmt.Errorf("read filter_gen: %w", err)
	}
	return g & 1, nil
}

// lock serialises writers: in-process with a mutex, across processes (the
// daemon's SIGHUP and `vxtap filter apply`) with flock on the pin directory.
func (f *FilterMaps) lock() (func(), error) {
	f.mu.Lock()
	if f.dir == "" {
		return f.mu.Unlock, nil
	}
	fd, err := unix.Open(f.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		f.mu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", f.dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		f.mu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", f.dir, err)
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		unix.Close(fd)
		f.mu.Unlock()
	}, nil
}

// FilterCapacity sizes the filter maps at load. Per-generation counts:
// the maps hold two generations.
type FilterCapacity struct {
	Rulesets int // directions of filters in use (two per filter)
	Bitsets  int // distinct rule bitsets
	Blocks   int // distinct 256-port blocks holding a range boundary
	Slots    int // rules, plus two per ruleset and one per session
	Sessions int // sessions, the default one included
	ENIAddrs int // source ENI addresses of all sessions
	Nodes4   int // distinct IPv4 CIDR table nodes
	Prefix6  int // IPv6 LPM entries
}

// DefaultFilterCapacity is what bpf/include/filter_maps.h declares.
var DefaultFilterCapacity = FilterCapacity{Rulesets: 32, Bitsets: 8192, Blocks: 1024, Slots: 8192,
	Sessions: 1024, ENIAddrs: 4096, Nodes4: 4096, Prefix6: 32768}

// CapacityFor is exactly what a compiled configuration needs.
func CapacityFor(c *filter.Compiled) FilterCapacity {
	k := FilterCapacity{Rulesets: len(c.Rulesets), Bitsets: len(c.Bitsets), Blocks: len(c.Blocks), Sessions: len(c.Sessions),
		Nodes4: len(c.Nodes4)}
	k.Slots = len(c.Sessions)
	for _, rs := range c.Rulesets {
		k.Slots += len(rs.Rules) + 2
		for field := range rs.Prefixes {
			k.Prefix6 += len(rs.Prefixes[field][1])
		}
	}
	for _, s := range c.Sessions {
		k.ENIAddrs += len(s.Addrs)
	}
	return k
}

// Max is the larger of two capacities, field by field.
func (k FilterCapacity) Max(o FilterCapacity) FilterCapacity {
	m := func(a, b int) int { return max(a, b) }
	return FilterCapacity{m(k.Rulesets, o.Rulesets), m(k.Bitsets, o.Bitsets), m(k.Blocks, o.Blocks), m(k.Slots, o.Slots),
		m(k.Sessions, o.Sessions), m(k.ENIAddrs, o.ENIAddrs), m(k.Nodes4, o.Nodes4), m(k.Prefix6, o.Prefix6)}
}

// MapSizes are the max_entries of the filter maps for Config.MapSizes.
func (k FilterCapacity) MapSizes() map[string]uint32 {
	one := func(n int) uint32 { return uint32(max(n, 1)) }
	return map[string]uint32{
		"filter_sessions": one(int(filterGens) * k.Sessions),
		"filter_eni":      one(int(filterGens) * k.ENIAddrs),
		"filter_v4root":   one(k.Rulesets * int(filterGens*filterFields)),
		"filter_v4node":   one(int(filterGens) * k.Nodes4),
		"filter_lpm6":     one(int(filterGens) * k.Prefix6),
		"filter_proto":    one(k.Rulesets * int(filterGens*filterProtos)),
		"filter_port_top": one(k.Rulesets * int(filterGens*filterFields*filterPortBlocks)),
		"filter_port_blk": one(int(filterGens) * k.Blocks),
		"filter_bitsets":  one(int(filterGens) * k.Bitsets),
		"filter_rules":    one(int(filterGens) * k.Slots),
		"rule_hits":       one(int(filterGens) * k.Slots),
		"filter_rulesets": one(k.Rulesets * int(filterGens)),
	}
}

// capacity is what the maps hold per generation.
func (f *FilterMaps) capacity() FilterCapacity {
	return FilterCapacity{
		Rulesets: int(f.Proto.MaxEntries() / (filterGens * filterProtos)), Bitsets: int(f.Bitsets.MaxEntries() / filterGens),
		Blocks: int(f.PortBlk.MaxEntries() / filterGens), Slots: int(f.Rules.MaxEntries() / filterGens),
		Sessions: int(f.Sessions.MaxEntries() / filterGens), ENIAddrs: int(f.ENI.MaxEntries() / filterGens),
		Nodes4: int(f.V4Node.MaxEntries() / filterGens), Prefix6: int(f.LPM6.MaxEntries() / filterGens),
	}
}

// maxRuleSlots is the most rule_hits slots a generation may use: a flow's
// kept decision names its slot in the bits of FILTER_VERDICT_HIT_MASK.
const maxRuleSlots = (int(VxtapFilterVerdictFILTER_VERDICT_HIT_MASK) + 1) / int(filterGens)

// fits says which table a configuration overflows, if any.
func (k FilterCapacity) fits(need FilterCapacity) error {
	if need.Slots > maxRuleSlots {
		return fmt.Errorf("the rule set needs %d rule slots, more than vxtap can name (%d)", need.Slots, maxRuleSlots)
	}
	for _, c := range []struct {
		name       string
		need, have int
	}{{"rulesets (filter directions)", need.Rulesets, k.Rulesets}, {"rule bitsets", need.Bitsets, k.Bitsets},
		{"port blocks", need.Blocks, k.Blocks}, {"rule slots", need.Slots, k.Slots}, {"sessions", need.Sessions, k.Sessions},
		{"ENI addresses", need.ENIAddrs, k.ENIAddrs}, {"IPv4 CIDR table nodes", need.Nodes4, k.Nodes4},
		{"IPv6 CIDR entries", need.Prefix6, k.Prefix6}} {
		if c.need > c.have {
			return fmt.Errorf("the rule set needs %d %s, the loaded tables hold %d per generation: restart the daemon with this configuration to size them", c.need, c.name, c.have)
		}
	}
	return nil
}

// PinnedFilterEnabled reports whether the program pinned for an interface
// was loaded with cfg_filter_enabled set: without it, rules written to the
// pinned tables are never consulted. Read from the program's .rodata.
func PinnedFilterEnabled(iface string) (bool, error) {
	spec, err := LoadVxtap()
	if err != nil {
		return false, err
	}
	off := -1
	if ds, ok := spec.Maps[".rodata"].Value.(*btf.Datasec); ok {
		for _, v := range ds.Vars {
			if v.Type.TypeName() == "cfg_filter_enabled" {
				off = int(v.Offset)
			}
		}
	}
	if off < 0 {
		return false, errors.New("BPF object has no cfg_filter_enabled in .rodata")
	}
	prog, err := ebpf.LoadPinnedProgram(filepath.Join(PinDir(iface), pinProg), nil)
	if err != nil {
		return false, fmt.Errorf("open pinned program: %w", err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return false, err
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		mi, err := m.Info()
		if err != nil || !strings.HasSuffix(mi.Name, ".rodata") {
			m.Close()
			continue
		}
		buf := make([]byte, m.ValueSize())
		err = m.Lookup(uint32(0), &buf)
		m.Close()
		if err != nil || off >= len(buf) {
			return false, fmt.Errorf("read the program's .rodata: %v", err)
		}
		return buf[off] != 0, nil
	}
	return false, errors.New("the pinned program has no .rodata map")
}
