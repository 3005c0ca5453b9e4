package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Config holds the load-time switches of the XDP program (its volatile
// const cfg_* variables) and the sizes of its tables.
type Config struct {
	VXLANPort     uint16 // outer UDP port of VXLAN
	GenevePort    uint16 // outer UDP port of GENEVE, 0 = off
	PassMirror    bool   // XDP_PASS mirror copies instead of dropping them
	OfflineClock  bool   // clock from the clock map (vxtap analyze), not the kernel
	FilterEnabled bool   // classify against compiled filter rules
	// NoVerdictCache classifies every packet, where by default a flow's
	// later packets replay the decision its slot keeps (benchmarks of the
	// classifier itself turn the cache off).
	NoVerdictCache bool
	SampleRate     uint32 // 1-in-N packet samples, 0 = off
	SnapLen        uint32 // bytes of inner frame per sample
	FlowTableSize  uint32 // max flows in the flow table
	RingBytes      uint32 // ring buffer size: a power of two, a multiple of the page size
	WakeupBytes    uint64 // force a reader wakeup past this much queued data
	// SourceCheck trusts only outer sources in the allowed_sources table
	// (Sources().Set); off, every outer source is trusted.
	SourceCheck bool
	// ThreatEnabled checks every accounted copy against the threats trie
	// (Threats().SetThreats); off, the check costs nothing.
	ThreatEnabled bool
	// ThreatSize is how many prefixes the threats trie holds (0: 65,536).
	ThreatSize uint32
	// Decap redirects the inner frame of every accepted copy to the
	// interfaces of decap_ports (OpenDecap, Decap.SetTarget).
	Decap bool
	// DecapFrags: the decap targets take multi-buffer frames, so jumbo
	// copies go whole; off, they are counted under decap_jumbo.
	DecapFrags bool
	// OverflowSize is how many {VNI, destination, protocol, port}
	// aggregates hold copies of flows that found no slot (per half).
	OverflowSize uint32
	// PinPath, when set, pins every map by name there and reuses maps
	// already pinned there (a restarted daemon carries on counting).
	PinPath string
	// MapSizes overrides max_entries of named maps (for maps other parts
	// of vxtap size from their own configuration).
	MapSizes map[string]uint32
}

// DefaultConfig is the daemon's configuration.
func DefaultConfig() Config {
	return Config{
		VXLANPort:     4789,
		GenevePort:    6081,
		SnapLen:       128,
		FlowTableSize: 1 << 18,
		RingBytes:     1 << 23,
		WakeupBytes:   1 << 20,
		OverflowSize:  1 << 14,
	}
}

// MaxSnapLen is MAX_SNAP_LEN of bpf/include/vxtap_shared.h: the scratch buffer.
const MaxSnapLen = uint32(VxtapVxtapConstMAX_SNAP_LEN)

func (c Config) validate() error {
	switch {
	case c.VXLANPort == 0:
		return errors.New("VXLAN port must not be 0")
	case c.VXLANPort == c.GenevePort:
		return fmt.Errorf("VXLAN and GENEVE ports are both %d", c.VXLANPort)
	case c.SnapLen == 0 || c.SnapLen > MaxSnapLen:
		return fmt.Errorf("snap length %d out of range 1..%d", c.SnapLen, MaxSnapLen)
	case c.FlowTableSize < 1:
		return errors.New("flow table size must be at least 1")
	case c.FlowTableSize > MaxFlowTableSize:
		return fmt.Errorf("flow table size %d past the flow index's %d (an entry keeps the slot in 24 bits)", c.FlowTableSize, MaxFlowTableSize)
	case c.RingBytes < uint32(unix.Getpagesize()) || c.RingBytes&(c.RingBytes-1) != 0:
		return fmt.Errorf("ring buffer size %d is not a power of two of at least a page", c.RingBytes)
	}
	return nil
}

// Objects is the loaded XDP program and its maps.
type Objects struct {
	VxtapObjects
	Config Config
	names  counterNames
	clock  clockConv
	table  *slotTable // flow_slots, mmapped
	index  *flowIndex // flow_index, mmapped
	// flow_free_hint, mmapped: giveBack counts its pushes there.
	hintMem  []byte
	freeHint *VxtapFreeHint
	// ovSettled: an RCU grace period passed since this process last saw
	// the overflow halves turn, so the half not in use is settled.
	ovSettled bool
	held      heldSlots // slots Detach took out and Release has not freed (detach.go)
}

// Load loads the XDP program with cfg's switches. Nothing is attached.
func Load(cfg Config) (*Objects, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	spec, err := LoadVxtap()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	names, err := namesFromBTF(spec)
	if err != nil {
		return nil, err
	}
	seed, fresh, err := flowSeed(cfg.PinPath)
	if err != nil {
		return nil, err
	}
	nb := flowBuckets(cfg.FlowTableSize)
	vars := map[string]any{
		"cfg_flow_buckets":    nb,
		"cfg_flow_hash_key":   flowHashKey(seed),
		"cfg_vxlan_port":      cfg.VXLANPort,
		"cfg_geneve_port":     cfg.GenevePort,
		"cfg_pass_mirror":     boolU8(cfg.PassMirror),
		"cfg_offline_clock":   boolU8(cfg.OfflineClock),
		"cfg_filter_enabled":  boolU8(cfg.FilterEnabled),
		"cfg_sample_rate":     cfg.SampleRate,
		"cfg_snap_len":        cfg.SnapLen,
		"cfg_rb_wakeup_bytes": cfg.WakeupBytes,
		"cfg_flow_max":        cfg.FlowTableSize,
		"cfg_source_check":    boolU8(cfg.SourceCheck),
		"cfg_threat_enabled":  boolU8(cfg.ThreatEnabled),
		"cfg_decap":           boolU8(cfg.Decap),
		"cfg_decap_frags":     boolU8(cfg.DecapFrags),
		"cfg_weak_order":      boolU8(weakOrder()),
		"cfg_verdict_cache":   boolU8(!cfg.NoVerdictCache),
	}
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("BPF object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	for _, name := range []string{"flow_slots", "flow_shared", "flow_free"} {
		spec.Maps[name].MaxEntries = cfg.FlowTableSize
	}
	spec.Maps["flow_index"].MaxEntries = nb
	spec.Maps["flow_ledger"].MaxEntries = cfg.FlowTableSize
	if cfg.OverflowSize > 0 {
		spec.Maps["overflow_flows"].MaxEntries = 2 * cfg.OverflowSize // both halves
	}
	spec.Maps["events"].MaxEntries = cfg.RingBytes
	if cfg.ThreatSize > 0 {
		spec.Maps["threats"].MaxEntries = cfg.ThreatSize
	}
	for name, size := range cfg.MapSizes {
		ms, ok := spec.Maps[name]
		if !ok {
			return nil, fmt.Errorf("BPF object has no map %s", name)
		}
		ms.MaxEntries = size
	}
	// Room for every aggregate of both halves, though only one is ledgered.
	spec.Maps["overflow_ledger"].MaxEntries = spec.Maps["overflow_flows"].MaxEntries + spec.Maps["overflow_vnis"].MaxEntries + 2
	var opts ebpf.CollectionOptions
	if cfg.PinPath != "" {
		if err := mkdirPins(cfg.PinPath); err != nil {
			return nil, fmt.Errorf("create pin directory: %w", err)
		}
		for _, ms := range spec.Maps {
			if ms.Name != "" && ms.Name[0] != '.' { // .rodata/.bss stay private
				ms.Pinning = ebpf.PinByName
			}
		}
		opts.Maps.PinPath = cfg.PinPath
	}
	o := &Objects{Config: cfg, names: names, clock: newClockConv(cfg.OfflineClock)}
	if err := spec.LoadAndAssign(&o.VxtapObjects, &opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load XDP program: %+v", ve)
		}
		return nil, fmt.Errorf("load XDP program: %w", err)
	}
	if fresh {
		// A new pin set (or none): the seed the program was loaded with
		// goes into flow_ctl, for a restarted daemon and OpenPinned.
		if err := o.FlowCtl.Update(uint32(VxtapVxtapConstFLOW_CTL_SEED), seed, ebpf.UpdateExist); err != nil {
			o.Close()
			return nil, fmt.Errorf("store flow hash seed: %w", err)
		}
	}
	if err := o.mapSlots(); err != nil {
		o.Close()
		return nil, err
	}
	if fresh {
		// Nothing inserted yet (nothing attached): no key of any bucket
		// is in the next one.
		o.index.markAlone()
	}
	if cfg.PinPath != "" && cfg.FilterEnabled {
		if err := o.FilterMaps().markSessions(); err != nil {
			o.Close()
			return nil, err
		}
	}
	return o, nil
}

// flowSeed is the flow hash seed of the pin set under dir: the one its
// flow_ctl holds, so a restarted daemon keeps the index's layout; a new
// random one (fresh) when there are no pins yet, or none was stored (a
// start killed between creating the pins and storing it: nothing was
// attached, so the index is empty). An older layout's flow_ctl (too few
// entries to hold a seed) gets a new seed too; the load then refuses its
// pins as incompatible. A flow_ctl that exists but cannot be read is an
// error: a new seed over a filled index would hide every flow in it.
func flowSeed(dir string) (seed uint64, fresh bool, err error) {
	if dir != "" {
		path := filepath.Join(dir, "flow_ctl")
		m, err := ebpf.LoadPinnedMap(path, nil)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return 0, false, fmt.Errorf("read the flow hash seed from %s: %w", path, err)
		default:
			defer m.Close()
			if m.MaxEntries() > uint32(VxtapVxtapConstFLOW_CTL_SEED) {
				if err := m.Lookup(uint32(VxtapVxtapConstFLOW_CTL_SEED), &seed); err != nil {
					return 0, false, fmt.Errorf("read the flow hash seed from %s: %w", path, err)
				}
				if seed != 0 {
					return seed, false, nil
				}
			}
		}
	}
	seed, err = newFlowSeed()
	return seed, true, err
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// weakOrder says whether this CPU may reorder loads with other loads (the
// flow cache then fences between a slot's state and its key). Only x86
// and s390x keep loads in order.
func weakOrder() bool {
	switch runtime.GOARCH {
	case "amd64", "386", "s390x":
		return false
	}
	return true
}

// mkdirPins makes the pin directory, trying again when the root it goes
// under vanished meanwhile (Detach of the last other instance removes an
// empty root).
func mkdirPins(dir string) error {
	var err error
	for range 3 {
		if err = os.MkdirAll(dir, 0o700); err == nil || !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return err
}
