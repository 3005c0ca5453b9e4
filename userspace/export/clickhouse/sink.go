// Package clickhouse exports flow records into ClickHouse, the fleet's
// shared store. The sink is durable (pipeline.Durable): WriteBatch only
// appends the batch to a bounded, fsynced on-disk spool; a shipper
// goroutine inserts spooled batches in order, retrying with backoff while
// the server is down or slow. Inserts are idempotent: every row carries
// its batch identity (instance, seq, chunk), and the shipper skips
// chunks the table already holds, so a batch sent twice (a retry after a
// lost answer, a restart after a kill) is stored once.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Config is one sink's settings; zero fields take the defaults.
type Config struct {
	URL           string        // clickhouse://host:9000
	Names         Names         // database and tables
	SpoolDir      string        // the spool's directory (under the daemon's state dir)
	SpoolBytes    int64         // the spool's bound
	BatchRows     int           // rows per INSERT at most (a larger sweep is split into chunks)
	FlushInterval time.Duration // how long a spooled batch waits for others to share its INSERT
	RetentionDays int           // day partitions older than this are dropped; 0 = keep all
	RetryMin      time.Duration // first backoff after a failed insert
	RetryMax      time.Duration // longest backoff
	// Committed is the last batch the daemon committed: only batches up
	// to it are shipped, so a batch a restart cuts (pipeline.Recoverer)
	// is still local. nil ships every batch (a sink used on its own).
	Committed func() uint64
	Logf      func(format string, args ...any)
}

// Defaults of Config.
const (
	DefaultSpoolBytes    = 256 << 20
	DefaultBatchRows     = 50000
	DefaultFlushInterval = 2 * time.Second
)

func (c *Config) fill() {
	if c.Names == (Names{}) {
		c.Names = DefaultNames()
	}
	if c.SpoolBytes == 0 {
		c.SpoolBytes = DefaultSpoolBytes
	}
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.RetryMin == 0 {
		c.RetryMin = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.Committed == nil {
		c.Committed = func() uint64 { return math.MaxUint64 }
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Stats is what the sink reports for metrics and `vxtap status`.
type Stats struct {
	SpoolBytes      int64         `json:"spool_bytes"`      // bytes waiting in the spool
	SpoolBatches    int           `json:"spool_batches"`    // chunks waiting
	SpoolLimit      int64         `json:"spool_limit"`      // the spool's bound
	SpoolFull       uint64        `json:"spool_full"`       // WriteBatch calls refused for want of room
	Inserts         uint64        `json:"inserts"`          // INSERTs that succeeded
	InsertedRows    uint64        `json:"inserted_rows"`    // rows they stored
	DuplicateChunks uint64        `json:"duplicate_chunks"` // chunks found already stored and not sent again
	Failures        uint64        `json:"failures"`         // failed attempts (connect, check, insert)
	Corrupt         uint64        `json:"corrupt"`          // spool files that could not be read, set aside as .bad
	LastLatency     time.Duration `json:"last_insert_latency_ns"`
	LastError       string        `json:"last_error,omitempty"`
	LastErrorAt     time.Time     `json:"last_error_at,omitzero"`
	PartitionsDrop  uint64        `json:"partitions_dropped"` // by retention
}

// Sink is the ClickHouse record sink.
type Sink struct {
	cfg    Config
	connMu sync.Mutex
	conn   driver.Conn // replaced after a failure (see reconnect)
	spool  *spool

	wake   chan struct{}
	stop   chan struct{}
	ctx    context.Context // cancelled at Close's deadline: ends a hung query
	cancel context.CancelFunc
	done   sync.WaitGroup
	schema atomic.Bool // schema known to be current on the server

	spoolFull, inserts, rows, dups, failures, corrupt, dropped atomic.Uint64
	latency                                                    atomic.Int64
	errMu                                                      sync.Mutex
	lastErr                                                    string
	lastErrAt                                                  time.Time
}

var (
	_ pipeline.RecordSink = (*Sink)(nil)
	_ pipeline.Durable    = (*Sink)(nil)
	_ pipeline.Recoverer  = (*Sink)(nil)

	_ pipeline.StatusDetailer = (*Sink)(nil)
)

// Tail implements pipeline.Recoverer: the records of batch committed
// (from the spool, or the copy kept of the last shipped batch) and those
// of the batches after it, which the shipper never sent.
func (s *Sink) Tail(instance string, committed uint64) (last, after []flow.Record, err error) {
	return s.spool.tail(instance, committed)
}

// DropAfter implements pipeline.Recoverer: the records of uncommitted
// batches that the data path makes again leave the spool; the others
// stay, and are shipped once a later batch is committed.
func (s *Sink) DropAfter(instance string, committed uint64, drop func(flow.Record) bool) error {
	return s.spool.dropAfter(instance, committed, drop)
}

// New opens the spool (picking up what a previous run left) and starts
// the shipper. ClickHouse need not be up: batches wait in the spool.
func New(cfg Config) (*Sink, error) {
	cfg.fill()
	if err := cfg.Names.Check(); err != nil {
		return nil, err
	}
	if cfg.BatchRows < 1 {
		return nil, fmt.Errorf("clickhouse batch rows %d: want 1 or more", cfg.BatchRows)
	}
	if cfg.RetentionDays < 0 {
		return nil, fmt.Errorf("clickhouse retention %d days: want 0 (keep all) or more", cfg.RetentionDays)
	}
	conn, err := Open(cfg.URL) // lazy: checks the URL, dials nothing
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolBytes)
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &Sink{cfg: cfg, conn: conn, spool: sp, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done.Add(1)
	go s.ship()
	if cfg.RetentionDays > 0 {
		s.done.Add(1)
		go s.retain()
	}
	return s, nil
}

// Name is the sink's name in the pipeline's counters.
func (s *Sink) Name() string { return "clickhouse" }

// Durable: a batch WriteBatch accepted is on local disk, fsynced.
func (s *Sink) Durable() bool { return true }

// WriteBatch spools the batch, split into chunks of at most BatchRows
// records, and returns once every chunk is fsynced. With the spool full
// it returns an error wrapping ErrSpoolFull and the pipeline keeps the
// batch (chunks already written are replaced, not doubled, next time).
func (s *Sink) WriteBatch(_ context.Context, b pipeline.Batch) error {
	if b.Instance == "" {
		return fmt.Errorf("clickhouse: batch %d has no instance", b.Seq)
	}
	for i, chunk := 0, uint32(0); i < len(b.Records); i, chunk = i+s.cfg.BatchRows, chunk+1 {
		e := &entry{Instance: b.Instance, Seq: b.Seq, Chunk: chunk, Time: b.Time, Records: b.Records[i:min(i+s.cfg.BatchRows, len(b.Records))]}
		if err := s.spool.put(e); err != nil {
			if errors.Is(err, ErrSpoolFull) {
				s.spoolFull.Add(1)
			}
			return err
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// closeWait bounds how long Close lets the shipper ship what is spooled.
const closeWait = 5 * time.Second

// Close stops the shipper, giving it closeWait to ship what is spooled
// (it alone ships: never two INSERTs of one batch at once), and closes
// the connection. What is left stays spooled for the next start.
func (s *Sink) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	start := time.Now()
	t := time.AfterFunc(closeWait, s.cancel)
	s.done.Wait()
	t.Stop()
	s.cancel()
	if st := s.Stats(); st.SpoolBatches > 0 {
		s.cfg.Logf("closed after %s with %d chunks (%d bytes) left in the spool for the next start; last error: %s",
			time.Since(start).Round(time.Millisecond), st.SpoolBatches, st.SpoolBytes, st.LastError)
	}
	return s.db().Close()
}

// db is the current connection pool.
func (s *Sink) db() driver.Conn {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conn
}

// reconnect replaces the connection pool after a failed attempt. A
// server that went away mid-query can leave the client's pool with
// connections it never hands back (seen with clickhouse-go v2.51
// against a restarted 18.16: the next INSERT waited for a free
// connection until its deadline); a fresh pool costs one dial.
func (s *Sink) reconnect() {
	c, err := Open(s.cfg.URL)
	if err != nil {
		return // the URL was good at New; keep the old pool
	}
	s.connMu.Lock()
	old := s.conn
	s.conn = c
	s.connMu.Unlock()
	go old.Close()
}

// Stats reads the sink's counters.
func (s *Sink) Stats() Stats {
	b, n := s.spool.usage()
	st := Stats{SpoolBytes: b, SpoolBatches: n, SpoolLimit: s.cfg.SpoolBytes, SpoolFull: s.spoolFull.Load(),
		Inserts: s.inserts.Load(), InsertedRows: s.rows.Load(), DuplicateChunks: s.dups.Load(),
		Failures: s.failures.Load(), Corrupt: s.corrupt.Load(), LastLatency: time.Duration(s.latency.Load()),
		PartitionsDrop: s.dropped.Load()}
	s.errMu.Lock()
	st.LastError, st.LastErrorAt = s.lastErr, s.lastErrAt
	s.errMu.Unlock()
	return st
}

// StatusDetail is the sink's line in `vxtap status`.
func (s *Sink) StatusDetail() string {
	st := s.Stats()
	d := fmt.Sprintf("spool %d chunks, %d of %d bytes (%d refused full); %d inserts, %d rows, %d duplicate chunks skipped; last insert %s; %d failures",
		st.SpoolBatches, st.SpoolBytes, st.SpoolLimit, st.SpoolFull, st.Inserts, st.InsertedRows, st.DuplicateChunks,
		st.LastLatency.Round(time.Microsecond), st.Failures)
	if st.LastError != "" {
		d += fmt.Sprintf(", last: %s (%s ago)", st.LastError, time.Since(st.LastErrorAt).Round(time.Second))
	}
	return d
}

func (s *Sink) fail(err error) {
	s.failures.Add(1)
	s.errMu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.errMu.Unlock()
	st := s.db().Stats()
	s.cfg.Logf("clickhouse: %v (pool: %d open, %d idle)", err, st.Open, st.Idle)
}

// Init creates or upgrades the schema at url: `vxtap db init`.
func Init(ctx context.Context, url string, n Names) (before int, err error) {
	conn, err := Open(url)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return EnsureSchema(ctx, conn, n)
}
