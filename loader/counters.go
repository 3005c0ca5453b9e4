package loader

import (
	"fmt"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Counters implements flow.CounterSource: reasons then flags, CPUs summed.
func (o *Objects) Counters() (reasons, flags []flow.Counter, err error) {
	read := func(idx int, name string, class flow.CounterClass) (flow.Counter, error) {
		var per []VxtapCounter
		if err := o.VxtapMaps.Counters.Lookup(uint32(idx), &per); err != nil {
			return flow.Counter{}, fmt.Errorf("read counter %s: %w", name, err)
		}
		c := flow.Counter{Name: name, Class: class}
		for _, v := range per {
			c.Packets += v.Packets
			c.Bytes += v.Bytes
		}
		return c, nil
	}
	for i, n := range o.names.reasons {
		c, err := read(i, n, reasonClass(i))
		if err != nil {
			return nil, nil, err
		}
		reasons = append(reasons, c)
	}
	for i, n := range o.names.flags {
		c, err := read(len(o.names.reasons)+i, n, flagClass(i))
		if err != nil {
			return nil, nil, err
		}
		flags = append(flags, c)
	}
	return reasons, flags, nil
}

// VNICounts are the per-VNI counts of copies that made no flow.
type VNICounts struct {
	NonIP, Rejected, Malformed uint64
}

// VNIStats reads the per-VNI counts, CPUs summed.
func (o *Objects) VNIStats() (map[uint32]VNICounts, error) {
	out := map[uint32]VNICounts{}
	var vni uint32
	var per []VxtapVniCounters
	it := o.VniStats.Iterate()
	for it.Next(&vni, &per) {
		var c VNICounts
		for _, v := range per {
			c.NonIP += v.NonIp
			c.Rejected += v.Rejected
			c.Malformed += v.Malformed
		}
		out[vni] = c
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read vni_stats: %w", err)
	}
	return out, nil
}
