package clickhouse

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// insertTimeout bounds one check or INSERT. An INSERT still running on
// the server after it is given up blocks its own resend: the resend
// carries the same query_id, which the server refuses while the first
// runs, and the check that follows sees it once it committed.
const insertTimeout = 30 * time.Second

// ship is the shipper goroutine, the only one that ships: oldest
// committed entries first, one INSERT per group of entries of one day,
// retried with backoff (batches arriving during a backoff wait for it to
// end). When the sink closes it ships what it can until Close's deadline
// cancels s.ctx, then returns.
func (s *Sink) ship() {
	defer s.done.Done()
	backoff := time.Duration(0)
	for {
		files, ready, wait := s.spool.next(s.cfg.BatchRows, s.cfg.FlushInterval, time.Now(), s.cfg.Committed())
		switch {
		case len(files) == 0:
			// Nothing committed to ship: look again soon, as a commit
			// does not wake the shipper.
			backoff, wait = 0, s.cfg.FlushInterval
		case ready || backoff > 0:
			if err := s.shipFiles(s.ctx, files); err != nil {
				s.fail(err)
				s.reconnect()
				backoff = min(max(2*backoff, s.cfg.RetryMin), s.cfg.RetryMax)
				wait = backoff
			} else {
				backoff = 0
				continue
			}
		}
		t := time.NewTimer(wait)
		wake := s.wake
		if backoff > 0 {
			wake = nil
		}
		select {
		case <-s.stop:
			t.Stop()
			s.flushOnClose()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// flushOnClose ships every committed entry, so a clean stop leaves
// nothing behind while ClickHouse is up; Close's deadline ends it.
func (s *Sink) flushOnClose() {
	for s.ctx.Err() == nil {
		committed := s.cfg.Committed()
		files, _, _ := s.spool.next(s.cfg.BatchRows, 0, time.Now(), committed)
		if len(files) == 0 {
			if _, n := s.spool.usage(); n > 0 {
				s.cfg.Logf("at close: %d chunks spooled, none committed (committed batch %d)", n, committed)
			}
			return
		}
		if err := s.shipFiles(s.ctx, files); err != nil {
			s.fail(fmt.Errorf("at close: %w (left in the spool for the next start)", err))
			return
		}
	}
}

// shipFiles stores spooled entries: it asks which of their (seq, chunk)
// the table holds already, inserts the others in one INSERT and drops
// them all from the spool.
func (s *Sink) shipFiles(ctx context.Context, files []spoolFile) error {
	var ents []*entry
	for _, f := range files {
		e, _, err := s.spool.read(f.name)
		if err != nil {
			s.corrupt.Add(1)
			s.spool.quarantine(f)
			s.cfg.Logf("clickhouse: %v: set aside as .bad", err)
			return nil // the others go next round
		}
		ents = append(ents, e)
	}
	ctx, cancel := context.WithTimeout(ctx, insertTimeout)
	defer cancel()
	if !s.schema.Load() {
		if _, err := EnsureSchema(ctx, s.db(), s.cfg.Names); err != nil {
			return err
		}
		s.schema.Store(true)
	}
	stored, err := s.storedChunks(ctx, ents)
	if err != nil {
		return fmt.Errorf("check batches %d..%d: %w", ents[0].Seq, ents[len(ents)-1].Seq, err)
	}
	var todo []*entry
	for _, e := range ents {
		if stored[chunkID{e.Instance, e.Seq, e.Chunk}] {
			s.dups.Add(1)
			continue
		}
		todo = append(todo, e)
	}
	if len(todo) > 0 {
		start := time.Now()
		n, err := s.insert(ctx, todo)
		if err != nil {
			return fmt.Errorf("insert batches %d..%d: %w", todo[0].Seq, todo[len(todo)-1].Seq, err)
		}
		s.latency.Store(int64(time.Since(start)))
		s.inserts.Add(1)
		s.rows.Add(uint64(n))
	}
	return s.spool.remove(files)
}

type chunkID struct {
	instance string
	seq      uint64
	chunk    uint32
}

// storedChunks asks which of the entries' chunks the table holds. ts
// leads the table's ORDER BY, so the check reads a few granules.
func (s *Sink) storedChunks(ctx context.Context, ents []*entry) (map[chunkID]bool, error) {
	lo, hi := ents[0], ents[0]
	minTS, maxTS := ents[0].Time.Unix(), ents[0].Time.Unix()
	instances := map[string]bool{}
	for _, e := range ents {
		if e.Seq < lo.Seq {
			lo = e
		}
		if e.Seq > hi.Seq {
			hi = e
		}
		minTS, maxTS = min(minTS, e.Time.Unix()), max(maxTS, e.Time.Unix())
		instances[e.Instance] = true
	}
	var names []string
	for in := range instances {
		names = append(names, quote(in))
	}
	q := fmt.Sprintf("SELECT instance, seq, chunk FROM %s WHERE day = toDate('%s') AND ts >= toDateTime(%d) AND ts <= toDateTime(%d) "+
		"AND instance IN (%s) AND seq >= %d AND seq <= %d GROUP BY instance, seq, chunk",
		s.cfg.Names.FlowsTable(), ents[0].day(), minTS, maxTS, strings.Join(names, ", "), lo.Seq, hi.Seq)
	rows, err := s.db().Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[chunkID]bool{}
	for rows.Next() {
		var id chunkID
		if err := rows.Scan(&id.instance, &id.seq, &id.chunk); err != nil {
			return nil, err
		}
		got[id] = true
	}
	return got, rows.Err()
}

// quote is a ClickHouse string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// insert writes the entries in one INSERT (one block, one partition:
// one part, stored whole or not at all).
func (s *Sink) insert(ctx context.Context, ents []*entry) (int, error) {
	first, last := ents[0], ents[len(ents)-1]
	qid := fmt.Sprintf("vxtap-%s-%d.%d-%d.%d", first.Instance, first.Seq, first.Chunk, last.Seq, last.Chunk)
	ctx = ch.Context(ctx, ch.WithQueryID(qid))
	b, err := s.db().PrepareBatch(ctx, "INSERT INTO "+s.cfg.Names.FlowsTable()+" ("+FlowColumns+")")
	if err != nil {
		return 0, err
	}
	defer b.Abort()
	n := 0
	for _, e := range ents {
		ts := e.Time.UTC().Truncate(time.Second)
		day := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
		for i := range e.Records {
			r := &e.Records[i]
			dir := r.Direction.String()
			if dir == "" {
				dir = "unknown"
			}
			var trunc uint8
			if r.Truncated {
				trunc = 1
			}
			if err := b.Append(day, ts, e.Instance, e.Seq, e.Chunk, r.VNI, addr16(r.MirrorSource), dir,
				addr16(r.Src), addr16(r.Dst), r.Proto, r.SPort, r.DPort, r.Packets, r.Bytes,
				r.First.Truncate(time.Second), uint16(r.First.Nanosecond()/1e6), r.Last.Truncate(time.Second), uint16(r.Last.Nanosecond()/1e6),
				r.TCPFlags, r.EndReason, r.Session, r.ENI, r.Rule, trunc); err != nil {
				return 0, fmt.Errorf("batch %d record %d: %w", e.Seq, i, err)
			}
			n++
		}
	}
	return n, b.Send()
}

// addr16 is an address as FixedString(16): IPv6, IPv4 mapped into it,
// zeros when unknown.
func addr16(a netip.Addr) string {
	if !a.IsValid() {
		return string(make([]byte, 16))
	}
	b := a.As16()
	return string(b[:])
}

// Addr reads a FixedString(16) address back (IPv4 unmapped).
func Addr(s string) netip.Addr {
	if len(s) != 16 {
		return netip.Addr{}
	}
	var b [16]byte
	copy(b[:], s)
	if b == ([16]byte{}) {
		return netip.Addr{}
	}
	return netip.AddrFrom16(b).Unmap()
}
