package daemon

import (
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/flow"
)

// settledOverflow is the settled half of the overflow aggregates at
// start, by record key. An aggregate leaves it only at a commit, after
// the ledger took its totals, and no half turns before the first sweep;
// so a record of a batch after the committed one whose aggregate is still
// here is made again by the next sweep, and one of the committed batch
// whose aggregate is still here may need its totals raised into the
// overflow ledger.
type settledOverflow map[flow.Key][]flow.Overflow

// readSettledOverflow reads it; empty when the table has no overflow.
func (d *Daemon) readSettledOverflow() (settledOverflow, error) {
	src, ok := d.src.Flows.(flow.OverflowSource)
	if !ok {
		return nil, nil
	}
	_, aggs, err := src.SettledOverflow()
	if err != nil {
		return nil, err
	}
	s := settledOverflow{}
	for _, o := range aggs {
		s[o.Key] = append(s[o.Key], o)
	}
	return s, nil
}

// holds says whether the aggregate of an overflow record is still there.
func (s settledOverflow) holds(r flow.Record) bool { return len(s[r.Key()]) > 0 }

// raise gives the overflow ledger the totals of the committed batch's
// overflow records whose aggregate is still there (a kill came between
// the commit and the ledger). The key of a catch-all and of VNI 0 are
// alike: the aggregate with the record's totals is the one.
func (s settledOverflow) raise(l aggregate.Ledger, last []flow.Record) error {
	ol, ok := l.(aggregate.OverflowLedger)
	if !ok || len(s) == 0 {
		return nil
	}
	led := map[flow.OverflowID][2]uint64{}
	if err := ol.LoadOverflow(func(id flow.OverflowID, p, b uint64) { led[id] = [2]uint64{p, b} }); err != nil {
		return err
	}
	save := map[flow.OverflowID][2]uint64{}
	for _, r := range last {
		if r.EndReason != flow.EndOverflow || r.TotalPackets == 0 {
			continue
		}
		for _, o := range s[r.Key()] {
			c := o.Counters
			if c.Packets != r.TotalPackets || c.Bytes != r.TotalBytes {
				continue
			}
			if _, done := save[o.OverflowID]; done || led[o.OverflowID][0] >= c.Packets {
				continue
			}
			save[o.OverflowID] = [2]uint64{c.Packets, c.Bytes}
			break
		}
	}
	if len(save) == 0 {
		return nil
	}
	return ol.SaveOverflow(save)
}
