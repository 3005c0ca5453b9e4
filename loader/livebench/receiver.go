package livebench

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Receiver is a baseline XDP program attached (native mode) to the
// receiving interface: drop (the ceiling), touch (the floor any analyzer
// pays), flow-floor (the least per-flow counting pays) or flow-map
// (per-flow counting in the kernel's per-CPU hash map).
type Receiver struct {
	Name  string
	Prog  *ebpf.Program
	link  link.Link
	drop  *LiveDropObjects
	touch *LiveTouchObjects
	floor *LiveFlowFloorObjects
	fmap  *LiveFlowMapObjects
}

// Baselines names the baseline receivers AttachBaseline knows.
var Baselines = []string{"drop", "touch", "flow-floor", "flow-map"}

// LoadBaseline loads the named baseline, not attached (BPF_PROG_TEST_RUN
// runs its Prog).
func LoadBaseline(name string) (*Receiver, error) { return loadBaseline(name, 0) }

// loadBaseline is LoadBaseline with room for flows flows in flow-map's
// map (0: the object's own size).
func loadBaseline(name string, flows uint64) (*Receiver, error) {
	r := &Receiver{Name: name}
	switch name {
	case "drop":
		r.drop = new(LiveDropObjects)
		if err := LoadLiveDropObjects(r.drop, nil); err != nil {
			return nil, fmt.Errorf("load drop: %w", err)
		}
		r.Prog = r.drop.LiveDrop
	case "touch":
		r.touch = new(LiveTouchObjects)
		if err := LoadLiveTouchObjects(r.touch, nil); err != nil {
			return nil, fmt.Errorf("load touch: %w", err)
		}
		r.Prog = r.touch.LiveTouch
	case "flow-floor":
		spec, err := LoadLiveFlowFloor()
		if err != nil {
			return nil, fmt.Errorf("load flow-floor: %w", err)
		}
		cpus, err := ebpf.PossibleCPU()
		if err != nil {
			return nil, err
		}
		// A region of lines per possible CPU (the program counts the
		// copies of CPUs past FLOOR_MAX_CPUS apart).
		cpus = min(cpus, int(LiveFlowFloorFloorConstFLOOR_MAX_CPUS))
		spec.Maps[LiveFlowFloorMapFloorLines].MaxEntries = uint32(cpus) * uint32(LiveFlowFloorFloorConstFLOOR_LINES)
		r.floor = new(LiveFlowFloorObjects)
		if err := spec.LoadAndAssign(r.floor, nil); err != nil {
			return nil, fmt.Errorf("load flow-floor: %w", err)
		}
		r.Prog = r.floor.LiveFlowFloor
	case "flow-map":
		if flows > math.MaxUint32 {
			return nil, fmt.Errorf("flow-map: room for %d flows: at most %d", flows, uint32(math.MaxUint32))
		}
		return loadFlowMap(uint32(flows))
	default:
		return nil, fmt.Errorf("no baseline receiver %q (have %v)", name, Baselines)
	}
	return r, nil
}

// loadFlowMap loads flow-map with room for flows flows (0: the object's
// own size).
func loadFlowMap(flows uint32) (*Receiver, error) {
	spec, err := LoadLiveFlowMap()
	if err != nil {
		return nil, fmt.Errorf("load flow-map: %w", err)
	}
	if flows > 0 {
		spec.Maps[LiveFlowMapMapFlowMap].MaxEntries = flows
	}
	r := &Receiver{Name: "flow-map", fmap: new(LiveFlowMapObjects)}
	if err := spec.LoadAndAssign(r.fmap, nil); err != nil {
		return nil, fmt.Errorf("load flow-map: %w", err)
	}
	r.Prog = r.fmap.LiveFlowMap
	return r, nil
}

// AttachBaseline loads the named baseline and attaches it to ifindex in
// the calling thread's network namespace (see InNetns); flows is the room
// flow-map's map gets (0: the object's own size, 65,536 flows).
func AttachBaseline(name string, ifindex int, flows uint64) (*Receiver, error) {
	r, err := loadBaseline(name, flows)
	if err != nil {
		return nil, err
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: r.Prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("attach %s to ifindex %d (native XDP): %w", name, ifindex, err)
	}
	r.link = l
	return r, nil
}

// Accounted is what the receiver itself counted: the frames the touch
// program parsed, or the copies a per-flow receiver put in its flows or
// counted apart; other is the frames it could not parse. Drop counts
// nothing (ok = false): its count is the interface's.
func (r *Receiver) Accounted() (parsed, other uint64, ok bool, err error) {
	switch {
	case r.touch != nil:
		var per []LiveTouchTouchCount
		if err := r.touch.TouchCounts.Lookup(uint32(0), &per); err != nil {
			return 0, 0, false, fmt.Errorf("read touch_counts: %w", err)
		}
		for _, c := range per {
			parsed += c.Packets
			other += c.Other
		}
		return parsed, other, true, nil
	case r.floor != nil || r.fmap != nil:
		flows, apart, other, err := r.Flows()
		if err != nil {
			return 0, 0, false, err
		}
		parsed = apart
		for _, f := range flows {
			parsed += f.Packets
		}
		return parsed, other, true, nil
	}
	return 0, 0, false, nil
}

// FlowCount is one flow a per-flow receiver counted, summed over CPUs.
type FlowCount struct {
	Key     LiveFlowMapLiveFlowKey
	Packets uint64
	Bytes   uint64
}

// Flows is what flow-floor or flow-map counted: each flow's copies and
// bytes summed over the CPUs, the copies counted apart (the floor's line
// held another flow; the map was full), and the frames it could not parse.
func (r *Receiver) Flows() (flows map[LiveFlowMapLiveFlowKey]FlowCount, apart, other uint64, err error) {
	var stats *ebpf.Map
	flows = make(map[LiveFlowMapLiveFlowKey]FlowCount)
	add := func(k LiveFlowMapLiveFlowKey, packets, bytes uint64) {
		f := flows[k]
		f.Key = k
		f.Packets += packets
		f.Bytes += bytes
		flows[k] = f
	}
	switch {
	case r.floor != nil:
		stats = r.floor.FloorStats
		var idx uint32
		var line LiveFlowFloorFloorLine
		it := r.floor.FloorLines.Iterate()
		for it.Next(&idx, &line) {
			if line.Counts.Packets > 0 {
				add(LiveFlowMapLiveFlowKey(line.Key), line.Counts.Packets, line.Counts.Bytes)
			}
		}
		if err := it.Err(); err != nil {
			return nil, 0, 0, fmt.Errorf("read floor_lines: %w", err)
		}
	case r.fmap != nil:
		stats = r.fmap.FlowMapStats
		var k LiveFlowMapLiveFlowKey
		var per []LiveFlowMapLiveFlowCounts
		it := r.fmap.FlowMap.Iterate()
		for it.Next(&k, &per) {
			for _, c := range per {
				add(k, c.Packets, c.Bytes)
			}
		}
		if err := it.Err(); err != nil {
			return nil, 0, 0, fmt.Errorf("read flow_map: %w", err)
		}
	default:
		return nil, 0, 0, fmt.Errorf("%s counts no flows", r.Name)
	}
	var per []LiveFlowMapLiveFlowStats
	if err := stats.Lookup(uint32(0), &per); err != nil {
		return nil, 0, 0, fmt.Errorf("read %s stats: %w", r.Name, err)
	}
	for _, s := range per {
		apart += s.Apart
		other += s.Other
	}
	return flows, apart, other, nil
}

// Close detaches and unloads the receiver.
func (r *Receiver) Close() error {
	var errs []error
	if r.link != nil {
		errs = append(errs, r.link.Close())
	}
	if r.drop != nil {
		errs = append(errs, r.drop.Close())
	}
	if r.touch != nil {
		errs = append(errs, r.touch.Close())
	}
	if r.floor != nil {
		errs = append(errs, r.floor.Close())
	}
	if r.fmap != nil {
		errs = append(errs, r.fmap.Close())
	}
	return errors.Join(errs...)
}
