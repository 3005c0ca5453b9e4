// Package ipfix exports flow records to IPFIX collectors (RFC 7011) over
// UDP or TCP: nfdump's nfcapd, pmacct's nfacctd, goflow2, akvorado,
// ntopng. It is a pipeline.RecordSink; the pipeline's queue in front of
// it bounds memory and counts what it drops, and WriteBatch never waits
// longer than its context, a write timeout or a connect attempt.
//
// Delivery: a batch that fails part way is resumed from its first unsent
// message when the pipeline hands it again, so a retry sends no record
// twice that the transport accepted. Neither transport is durable: a UDP
// datagram may be lost silently, and a TCP collector acknowledges
// nothing, so what the kernel accepted just before a connection broke
// may be lost too. The sink therefore never holds back the restart
// ledger (Durable reports false).
package ipfix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Stats are an exporter's counters since it started.
type Stats struct {
	Messages   uint64 // messages sent
	Records    uint64 // flow records sent
	Bytes      uint64 // message bytes sent
	Templates  uint64 // times the templates were sent (session starts and refreshes)
	SendErrors uint64 // messages the transport refused (each failed WriteBatch counts one)
	Connects   uint64 // transport sessions opened (TCP connections, UDP sockets)
	ConnectErr uint64 // failed connection attempts
	Invalid    uint64 // records that cannot be encoded (skipped; see layoutOf)
}

// Exporter is an IPFIX exporting process with one collector.
type Exporter struct {
	cfg Config

	mu       sync.Mutex // one batch or refresh at a time: the session's sequence number and message
	conn     net.Conn
	dead     *atomic.Bool // set by the TCP reader when the peer closed or failed
	msg      *message
	seq      uint32    // data records sent in this session (the header's sequence number)
	sentTmpl time.Time // when the templates last went out in this session; zero = not yet
	nextDial time.Time // no connect attempt before this (backoff)
	backoff  time.Duration
	resume   cursor    // where a batch that failed part way stops
	warned   time.Time // when an unencodable record was last logged

	stats struct {
		messages, records, bytes, templates, sendErrors, connects, connectErr, invalid atomic.Uint64
	}
	stop chan struct{}
	done chan struct{}
}

// cursor names the first unsent record of a batch.
type cursor struct {
	instance string
	seq      uint64
	next     int
}

var _ pipeline.RecordSink = (*Exporter)(nil)

// New makes an exporter; it connects on the first batch, so a collector
// that is down at start is not an error.
func New(cfg Config) (*Exporter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Exporter{cfg: cfg, backoff: cfg.BackoffMin, stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.Network == "udp" {
		go e.refreshLoop()
	} else {
		close(e.done)
	}
	return e, nil
}

// Name names the sink in logs and metrics.
func (e *Exporter) Name() string { return "ipfix " + e.cfg.Network + "://" + e.cfg.Addr }

// Durable is false: see the package comment.
func (e *Exporter) Durable() bool { return false }

// Stats returns the counters.
func (e *Exporter) Stats() Stats {
	s := &e.stats
	return Stats{
		Messages: s.messages.Load(), Records: s.records.Load(), Bytes: s.bytes.Load(),
		Templates: s.templates.Load(), SendErrors: s.sendErrors.Load(), Connects: s.connects.Load(),
		ConnectErr: s.connectErr.Load(), Invalid: s.invalid.Load(),
	}
}

// WriteBatch sends the batch's records, templates first when due. On an
// error the records not sent are remembered, and the same batch handed
// again resumes there.
func (e *Exporter) WriteBatch(ctx context.Context, b pipeline.Batch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := 0
	if e.resume.instance == b.Instance && e.resume.seq == b.Seq {
		start = e.resume.next
	}
	e.resume = cursor{instance: b.Instance, seq: b.Seq, next: start}
	if err := e.connect(ctx); err != nil {
		return err
	}
	stopCancel := e.cancelWrites(ctx)
	defer stopCancel()
	if err := e.putTemplatesIfDue(ctx); err != nil {
		return err
	}
	var rec []byte
	first := start // first record of the message being filled
	for i := start; i < len(b.Records); i++ {
		r := &b.Records[i]
		l, err := layoutOf(r)
		if err != nil {
			e.invalid(err)
			continue
		}
		rec = appendRecord(rec[:0], l, r)
		if e.msg.add(l.templateID(), rec, kindFlow) {
			continue
		}
		if err := e.flush(ctx); err != nil {
			e.resume.next = first
			return err
		}
		first = i
		if !e.msg.add(l.templateID(), rec, kindFlow) {
			// Not reachable: MinMTU leaves room for the largest record.
			e.msg.reset()
			return fmt.Errorf("ipfix: record of %d octets exceeds the message size %d", len(rec), e.msg.max)
		}
	}
	if err := e.flush(ctx); err != nil {
		e.resume.next = first
		return err
	}
	e.resume = cursor{}
	return nil
}

// invalid counts a record that cannot be encoded and logs it, at most
// once a minute: such a record is a bug upstream, not a network event.
func (e *Exporter) invalid(err error) {
	n := e.stats.invalid.Add(1)
	if now := time.Now(); now.Sub(e.warned) >= time.Minute {
		e.warned = now
		log.Warn().Str("sink", e.Name()).Uint64("invalid_records", n).Msgf("record not exported: %v", err)
	}
}

// Close stops the refresh timer and closes the transport.
func (e *Exporter) Close() error {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	<-e.done
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropConn()
	return nil
}

// connect opens the transport unless open, at most once per backoff
// interval: between attempts it fails at once rather than wait. A new
// session starts its sequence at 0 and owes the templates.
func (e *Exporter) connect(ctx context.Context) error {
	if e.conn != nil && !e.dead.Load() {
		return nil
	}
	if e.conn != nil {
		e.dropConn() // the TCP peer went away: reconnect now
	}
	now := e.cfg.Now()
	if now.Before(e.nextDial) {
		e.stats.sendErrors.Add(1)
		return fmt.Errorf("%s: not connected, next attempt in %v", e.Name(), e.nextDial.Sub(now).Round(time.Millisecond))
	}
	dctx, cancel := context.WithTimeout(ctx, e.cfg.WriteTimeout)
	defer cancel()
	conn, err := e.cfg.Dial(dctx, e.cfg.Network, e.cfg.Addr)
	if err != nil {
		e.stats.connectErr.Add(1)
		e.stats.sendErrors.Add(1)
		e.nextDial = now.Add(e.backoff)
		e.backoff = min(2*e.backoff, e.cfg.BackoffMax)
		return fmt.Errorf("%s: connect: %w", e.Name(), err)
	}
	e.stats.connects.Add(1)
	e.conn, e.seq, e.sentTmpl = conn, 0, time.Time{}
	e.backoff, e.nextDial = e.cfg.BackoffMin, time.Time{}
	e.msg = newMessage(e.cfg.messageMax(conn.RemoteAddr()))
	e.dead = new(atomic.Bool)
	if e.cfg.Network == "tcp" {
		// The collector sends nothing: a read returns only when it closes
		// or fails, and the next batch then reconnects instead of writing
		// into a dead connection.
		go func(c net.Conn, dead *atomic.Bool) {
			io.Copy(io.Discard, c)
			dead.Store(true)
		}(conn, e.dead)
	}
	return nil
}

// dropConn closes the transport; the next batch opens a new session.
func (e *Exporter) dropConn() {
	if e.conn != nil {
		e.conn.Close()
		e.conn = nil
	}
}

// cancelWrites makes a write in progress fail when ctx ends.
func (e *Exporter) cancelWrites(ctx context.Context) (stop func() bool) {
	c := e.conn
	return context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
}

// putTemplatesIfDue queues the templates and the sampling options record
// at a session's start and, over UDP, every TemplateRefresh.
func (e *Exporter) putTemplatesIfDue(ctx context.Context) error {
	if !e.sentTmpl.IsZero() && (e.cfg.Network == "tcp" || e.cfg.Now().Sub(e.sentTmpl) < e.cfg.TemplateRefresh) {
		return nil
	}
	var rec []byte
	put := func(setID uint16, k kind) error {
		if e.msg.add(setID, rec, k) {
			return nil
		}
		if err := e.flush(ctx); err != nil {
			return err
		}
		e.msg.add(setID, rec, k)
		return nil
	}
	for _, l := range layouts() {
		rec = appendTemplate(rec[:0], l.templateID(), l.fields())
		if err := put(setTemplate, kindTemplate); err != nil {
			return err
		}
	}
	rec = appendOptionsTemplate(rec[:0], samplingTemplateID, samplingScope, samplingOptions)
	if err := put(setOptionsTemplate, kindTemplate); err != nil {
		return err
	}
	// The options record goes last: the message that carries it
	// completes the series.
	rec = appendSamplingRecord(rec[:0], e.cfg.Domain)
	return put(samplingTemplateID, kindOptions)
}

// flush sends the message being filled. The sequence number advances by
// its data records only once the transport took it. A failed TCP write
// may have sent part of the message, so the connection is dropped; a
// failed UDP send sent nothing.
func (e *Exporter) flush(ctx context.Context) error {
	if e.msg.empty() {
		return nil
	}
	now := e.cfg.Now()
	b := e.msg.finish(uint32(now.Unix()), e.seq, e.cfg.Domain)
	deadline := time.Now().Add(e.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	e.conn.SetWriteDeadline(deadline)
	err := ctx.Err()
	if err == nil {
		_, err = e.conn.Write(b)
	}
	flows, options := e.msg.flows, e.msg.options
	e.msg.reset()
	if err != nil {
		e.stats.sendErrors.Add(1)
		if e.cfg.Network == "tcp" {
			e.dropConn()
		}
		if ctxErr := contextErr(ctx); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return fmt.Errorf("%s: send: %w", e.Name(), err)
	}
	e.seq += flows + options
	e.stats.messages.Add(1)
	e.stats.bytes.Add(uint64(len(b)))
	e.stats.records.Add(uint64(flows))
	if options > 0 {
		e.sentTmpl = now
		e.stats.templates.Add(1)
	}
	return nil
}

// refreshLoop resends the templates over UDP when due even while no
// flows come, so a collector that restarted can decode the next batch
// at once.
func (e *Exporter) refreshLoop() {
	defer close(e.done)
	t := time.NewTicker(e.cfg.TemplateRefresh)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.refresh()
		}
	}
}

// refresh sends the templates if due and a transport is open.
func (e *Exporter) refresh() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.WriteTimeout)
	defer cancel()
	if err := e.putTemplatesIfDue(ctx); err != nil {
		return err
	}
	return e.flush(ctx)
}

// contextErr is ctx.Err(), also when a write deadline taken from ctx
// fired a moment before ctx's own timer did.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
