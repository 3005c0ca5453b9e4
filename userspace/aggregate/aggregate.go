// Package aggregate turns the data path's flow table into flow records: it
// sweeps the table, emits a record per flow on idle timeout, active timeout,
// TCP end and shutdown, and removes finished flows from the table.
package aggregate

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Config sets the timeouts.
type Config struct {
	IdleTimeout   time.Duration // a flow with no packet for this long is finished
	ActiveTimeout time.Duration // a running flow gets a record at least this often
	// EndGrace is how long a flow that saw FIN or RST stays after its last
	// packet, so the closing ACKs land in the same record.
	EndGrace time.Duration
	// TableSize is the data path's flow table capacity; 0 turns pressure
	// relief off. The table has no LRU of its own: a full table refuses
	// new flows (counted as flow_insert_failed), so when a sweep finds it
	// more than pressureHigh full, the next sweep removes the idlest
	// flows early, down to pressureLow, with reason "evicted".
	TableSize int
}

// Fill levels of the pressure relief, in percent of TableSize.
const (
	pressureHigh = 90 // above this after a sweep, relief starts
	pressureLow  = 80 // relief removes flows down to this
	ageBuckets   = 64 // idle-age histogram buckets over one idle timeout
)

// DefaultConfig holds the daemon's timeouts.
func DefaultConfig() Config {
	return Config{IdleTimeout: 15 * time.Second, ActiveTimeout: 60 * time.Second, EndGrace: time.Second}
}

// Ledger keeps what records already carried per flow outside the
// process (the daemon uses a pinned map), so a daemon killed and started
// again continues from there instead of counting twice.
type Ledger interface {
	Load(fn func(k flow.Key, packets, bytes uint64)) error
	Save(entries map[flow.Key][2]uint64) error
	Forget(keys []flow.Key) error
}

// Stats describe one sweep.
type Stats struct {
	Flows    int           // flows in the table
	Records  int           // records emitted
	Removed  int           // flows removed from the table
	Evicted  int           // flows removed early because the table was nearly full
	Vanished int           // flows that left the table without the aggregator
	Duration time.Duration // wall time the sweep took
}

// Aggregator owns the exported state of every flow. It is not safe for
// concurrent use: one goroutine feeds it events and sweeps.
type Aggregator struct {
	cfg    Config
	src    flow.FlowSource
	emit   func(flow.Record)
	state  *states
	clock  clock
	sweeps uint64
	ledger Ledger
	// pending holds a sweep's records until the ledger has them: they are
	// saved first and emitted right after, one write each.
	pending []flow.Record
	// relief is what the next sweep evicts; zero while the table has room.
	relief     reliefPlan
	ages       [ageBuckets]int // this sweep's kept flows of more than one packet by idle age
	singleAges [ageBuckets]int // this sweep's kept one-packet flows by idle age
	// defer_ holds ledger writes and removals until Commit (commit.go).
	defer_ deferred
	ov     overflowState // the overflow aggregates (overflow.go)
	// touched keeps OnEvents' early index loads alive (never read).
	touched uint32
	// Totals over the aggregator's life.
	TotalRecords, TotalEvicted, TotalVanished uint64
}

// New returns an aggregator that reads src and hands records to emit.
func New(cfg Config, src flow.FlowSource, emit func(flow.Record)) *Aggregator {
	return &Aggregator{cfg: cfg, src: src, emit: emit, state: newStates(cfg.TableSize), clock: newClock(),
		ov: overflowState{sent: map[flow.OverflowID][2]uint64{}, stored: map[flow.OverflowID]bool{}}}
}

// UseLedger loads what earlier runs exported and keeps the ledger current
// from now on. An entry counts only for the flow it was written for: one
// whose key is no longer in the table (a daemon killed between removing
// the flow and forgetting the entry), or is there with fewer packets or
// bytes than the entry says (a new flow reusing the 5-tuple: one flow's
// counters never go down), is forgotten instead, or the new flow's
// packets would be taken for ones already exported and never recorded.
func (a *Aggregator) UseLedger(l Ledger, now time.Time) error {
	a.ledger = l
	if err := a.useOverflowLedger(l); err != nil {
		return err
	}
	at := a.clock.stamp(now)
	loaded := map[uint32]bool{} // slots made from an entry: true once the table has their flow
	err := l.Load(func(k flow.Key, packets, bytes uint64) {
		// A flow already known starts over, as a new one would.
		fk := pack(&k)
		if i, ok := a.state.get(&fk); ok {
			a.state.drop(i)
			delete(loaded, i)
		}
		i := a.add(fk, at)
		e := &a.state.slots[i]
		e.packets, e.bytes = packets, bytes
		loaded[i] = false
	})
	if err != nil || len(loaded) == 0 {
		return err
	}
	err = a.src.Walk(func(k flow.Key, c flow.Counters) {
		fk := pack(&k)
		if i, ok := a.state.get(&fk); ok {
			if _, ok := loaded[i]; ok {
				e := &a.state.slots[i]
				loaded[i] = loaded[i] || (c.Packets >= e.packets && c.Bytes >= e.bytes)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("check flow ledger against the table: %w", err)
	}
	var stale []fkey
	for i, current := range loaded {
		if !current {
			stale = append(stale, a.state.key(i))
			a.state.drop(i)
		}
	}
	return forgetStale(l, stale)
}

// forgetStale forgets the ledger entries of flows no longer in the table,
// in key order.
func forgetStale(l Ledger, stale []fkey) error {
	if len(stale) == 0 {
		return nil
	}
	slices.SortFunc(stale, func(x, y fkey) int { return bytes.Compare(x[:], y[:]) })
	keys := make([]flow.Key, len(stale))
	for i := range stale {
		keys[i] = stale[i].unpack()
	}
	return l.Forget(keys)
}

// flush saves the pending records' totals in the ledger, then emits them.
// With commits deferred, the totals wait for Commit instead.
func (a *Aggregator) flush(gone []flow.Key) error {
	var err error
	if a.ledger != nil && len(a.pending) > 0 {
		save := make(map[flow.Key][2]uint64, len(a.pending))
		for _, r := range a.pending {
			if r.EndReason == flow.EndOverflow {
				continue // the overflow ledger's (overflow.go)
			}
			k := r.Key()
			fk := pack(&k)
			if i, ok := a.state.get(&fk); ok {
				e := &a.state.slots[i]
				save[k] = [2]uint64{e.packets, e.bytes}
			}
		}
		if a.defer_.holding() {
			a.defer_.took(save)
		} else {
			err = a.ledger.Save(save)
		}
	}
	if a.defer_.on {
		a.setTotals()
	}
	for _, r := range a.pending {
		a.emit(r)
	}
	a.pending = a.pending[:0]
	if a.ledger != nil && len(gone) > 0 {
		err = errors.Join(err, a.ledger.Forget(gone))
	}
	return err
}

// OnEvent takes a flow-start or flow-end record from the ring buffer. A
// start makes the flow known, so if it vanishes from the table before a
// sweep saw it, the eviction is noticed.
func (a *Aggregator) OnEvent(ev flow.Event) {
	if ev.Type != flow.FlowStart {
		return // the table's end_seen flag carries the end to the sweep
	}
	fk := pack(&ev.Key)
	if _, ok := a.state.get(&fk); !ok {
		a.add(fk, a.clock.stamp(ev.Time))
	}
}

// eventGroup is how many flow starts OnEvents looks up together: enough
// independent cache misses in flight to hide most of their latency,
// few enough that the group's keys stay in registers and L1.
const eventGroup = 32

// OnEvents is OnEvent for a batch, as the ring-buffer reader hands them
// on. A flow start is nearly always a flow the index has never seen, and
// with a large table each lookup misses the cache: here each group's
// probes are started together (keyindex.Touch) and then made in order,
// so the misses overlap instead of queueing. The outcome is OnEvent's,
// event by event.
func (a *Aggregator) OnEvents(evs []flow.Event) {
	var keys [eventGroup]fkey
	var hs [eventGroup]uint64
	var idx [eventGroup]int32
	for len(evs) > 0 {
		g := evs[:min(len(evs), eventGroup)]
		evs = evs[len(g):]
		n := 0
		for j := range g {
			if g[j].Type != flow.FlowStart {
				continue
			}
			packTo(&keys[n], &g[j].Key)
			hs[n] = a.state.hash(&keys[n])
			idx[n] = int32(j)
			n++
		}
		// A loop of nothing but the loads, so they all fit in the
		// CPU's window of instructions in flight and miss together.
		var sink uint32
		for _, h := range hs[:n] {
			sink |= a.state.index.Touch(h)
		}
		a.touched |= sink
		for m := 0; m < n; m++ {
			if _, ok := a.state.getHashed(&keys[m], hs[m]); !ok {
				a.addHashed(keys[m], hs[m], a.clock.stamp(g[idx[m]].Time))
			}
		}
	}
}

// Sweep walks the table at time now and emits the records that are due.
func (a *Aggregator) Sweep(now time.Time) (Stats, error) {
	start := time.Now()
	a.sweeps++
	a.state.begin(a.sweeps)
	var st Stats
	var remove []flow.Key
	reasons := map[flow.Key]string{}
	at := a.clock.stamp(now)
	a.ages, a.singleAges = [ageBuckets]int{}, [ageBuckets]int{}
	err := a.src.Walk(func(k flow.Key, c flow.Counters) {
		st.Flows++
		e := a.walked(&k, &c)
		if a.defer_.isHeld(&k) {
			return // a newer flow on a held flow's key: recorded once that one is released
		}
		idle := now.Sub(c.Last)
		switch {
		case c.EndSeen && idle >= a.cfg.EndGrace:
			remove, reasons[k] = append(remove, k), flow.EndTCP
			st.Records += a.finalFromWalk(&k, &c, e, flow.EndTCP, now, at)
		case idle >= a.cfg.IdleTimeout:
			remove, reasons[k] = append(remove, k), flow.EndIdle
			st.Records += a.finalFromWalk(&k, &c, e, flow.EndIdle, now, at)
		case a.relief.take(idle, c.Packets <= 1, st.Evicted):
			remove, reasons[k] = append(remove, k), flow.EndEvicted
			st.Records += a.finalFromWalk(&k, &c, e, flow.EndEvicted, now, at)
			st.Evicted++
		default:
			if a.cfg.TableSize > 0 {
				a.noteKept(idle, &c)
			}
			if e.lastRecord.age(at) >= a.cfg.ActiveTimeout && a.record(&k, &c, e, flow.EndActive, now, at) {
				st.Records++
			}
		}
	})
	a.state.end()
	if err != nil {
		a.state.markAll() // the walk did not reach every flow: none vanished
		return st, fmt.Errorf("sweep: %w", err)
	}
	no, oerr := a.drainOverflow()
	st.Records += no
	if err := errors.Join(a.flush(nil), oerr); err != nil {
		return st, err
	}
	var n int
	if a.defer_.on {
		a.defer_.removeLater(remove, reasons) // Commit removes them
	} else {
		n, err = a.finish(remove, reasons, now)
		err = errors.Join(err, a.commitOverflow())
	}
	st.Records += n
	st.Removed = len(remove)
	a.TotalEvicted += uint64(st.Evicted)
	a.relief = a.plan(st.Flows - len(remove))
	// Flows known from a start event or an earlier sweep that this sweep
	// did not see left the table without us (another process removed
	// them, or the table was replaced).
	st.Vanished = a.state.dropUnseen()
	a.TotalVanished += uint64(st.Vanished)
	st.Duration = time.Since(start)
	return st, err
}

// ageBucket places an idle age below the idle timeout in the histogram. A
// packet that came during the walk makes the age negative: bucket 0.
func (a *Aggregator) ageBucket(idle time.Duration) int {
	width := a.cfg.IdleTimeout / ageBuckets
	if width <= 0 || idle <= 0 {
		return 0
	}
	return int(min(idle/width, ageBuckets-1))
}

// Shutdown emits a last record for every flow in the table. With remove,
// the flows also leave the table (the program is going away); without it
// they stay for a successor that carries on from the same pinned table.
func (a *Aggregator) Shutdown(now time.Time, remove bool) (int, error) {
	var keys []flow.Key
	n := 0
	at := a.clock.stamp(now)
	err := a.src.Walk(func(k flow.Key, c flow.Counters) {
		if remove {
			keys = append(keys, k)
			if a.defer_.on {
				n += a.finalFromWalk(&k, &c, a.known(&k, &c), flow.EndShutdown, now, at)
			}
			return
		}
		if a.record(&k, &c, a.known(&k, &c), flow.EndShutdown, now, at) {
			n++
		}
	})
	if err != nil {
		return n, fmt.Errorf("shutdown sweep: %w", err)
	}
	no, oerr := a.drainOverflow()
	n += no
	if err := errors.Join(a.flush(nil), oerr); err != nil {
		return n, err
	}
	reasons := make(map[flow.Key]string, len(keys))
	for _, k := range keys {
		reasons[k] = flow.EndShutdown
	}
	if a.defer_.on {
		a.defer_.removeLater(keys, reasons)
		return n, nil
	}
	m, err := a.finish(keys, reasons, now)
	return n + m, errors.Join(err, a.commitOverflow())
}

// finish removes flows from the table and emits their last records from
// the counters the table held when each went. With deferred commits (it
// runs in Commit) the flows are detached: those that gained packets since
// the walk stay held until their new records are committed (commit.go),
// the others are released at once.
func (a *Aggregator) finish(keys []flow.Key, reasons map[flow.Key]string, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	var final map[flow.Key]flow.Counters
	var err error
	if a.defer_.on {
		final, err = a.detach(keys)
	} else {
		final, err = a.src.Remove(keys)
	}
	at := a.clock.stamp(now)
	n := 0
	var gone, retry []flow.Key
	for _, k := range keys {
		c, ok := final[k]
		if !ok && err != nil && a.defer_.on {
			// Maybe still in the table (the removal failed part way): keep
			// its state and ledger entry, and try again at the next Commit.
			retry = append(retry, k)
			continue
		}
		late := ok && a.record(&k, &c, a.known(&k, &c), reasons[k], now, at)
		if late {
			n++
		}
		if a.defer_.on {
			if late {
				a.defer_.held[k] = true
			} else {
				gone = append(gone, k)
			}
		}
	}
	var ferr error
	if a.defer_.on {
		// The others' records are all stored: their entries go, then they.
		ferr = errors.Join(a.flush(nil), a.letGo(gone))
	} else {
		ferr = a.flush(keys)
	}
	for _, k := range keys {
		if len(retry) > 0 && slices.Contains(retry, k) {
			continue
		}
		fk := pack(&k)
		if i, ok := a.state.get(&fk); ok {
			a.state.drop(i)
		}
	}
	if len(retry) > 0 {
		a.defer_.removeLater(retry, reasons)
	}
	return n, errors.Join(err, ferr)
}

// walked returns the state of a flow the sweep's walk met, creating it for
// a flow first met there, and marks it seen.
func (a *Aggregator) walked(k *flow.Key, c *flow.Counters) *slot {
	var fk fkey
	packTo(&fk, k)
	i, ok := a.state.find(&fk)
	if !ok {
		i = a.add(fk, a.clock.stamp(c.First))
	}
	a.state.walked(i)
	return &a.state.slots[i]
}

// known returns the flow's exported state, creating it for a flow first
// met in the table (its start event was lost, or vxtap restarted).
func (a *Aggregator) known(k *flow.Key, c *flow.Counters) *slot {
	fk := pack(k)
	i, ok := a.state.get(&fk)
	if !ok {
		i = a.add(fk, a.clock.stamp(c.First))
	}
	return &a.state.slots[i]
}

// add makes the state of a new flow whose records start at lastRecord.
func (a *Aggregator) add(fk fkey, lastRecord stamp) uint32 {
	return a.addHashed(fk, a.state.hash(&fk), lastRecord)
}

// addHashed is add for a key whose index hash h is known.
func (a *Aggregator) addHashed(fk fkey, h uint64, lastRecord stamp) uint32 {
	i := a.state.addHashed(fk, a.sweeps, h)
	e := &a.state.slots[i]
	e.lastRecord, e.lastPacket = lastRecord, zeroWall
	return i
}

// record emits what the flow gained since its previous record; false when
// it gained nothing. at is now as a stamp.
func (a *Aggregator) record(k *flow.Key, c *flow.Counters, e *slot, reason string, now time.Time, at stamp) bool {
	if c.Packets <= e.packets {
		e.lastRecord = at
		return false
	}
	first := c.First
	if e.packets > 0 {
		first = a.clock.time(e.lastPacket, e.zone) // continuation: the previous record ended there
	}
	a.pending = append(a.pending, flow.Record{
		VNI: k.VNI, MirrorSource: c.MirrorSource, Direction: c.Direction,
		Src: k.Src, Dst: k.Dst, Proto: k.Proto, SPort: k.SPort, DPort: k.DPort,
		Packets: c.Packets - e.packets, Bytes: c.Bytes - e.bytes,
		First: first, Last: c.Last, TCPFlags: c.TCPFlags, EndReason: reason,
		Rule: c.Rule, Truncated: c.Truncated,
	})
	e.packets, e.bytes = c.Packets, c.Bytes
	e.lastRecord = at
	e.lastPacket, e.zone = wallOf(c.Last), a.clock.zone(c.Last)
	a.TotalRecords++
	return true
}

// Len is the number of flows the aggregator knows.
func (a *Aggregator) Len() int { return a.state.len() }
