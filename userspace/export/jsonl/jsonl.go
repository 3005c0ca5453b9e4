// Package jsonl is the flow log: one JSON object per flow record and line,
// to a file or to stdout. A file is rotated by size and old files are
// kept by count (logrotate's size and rotate), every batch is fsynced
// before WriteBatch returns, and a failed write never leaves a partial
// line behind: the file is cut back to its last complete line. Nothing is
// buffered between batches, so a write that failed for lack of space
// works again as soon as space is freed.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Config of the flow log.
type Config struct {
	Path    string // "" writes to Stdout
	MaxSize int64  // rotate before a batch would take the file past this many bytes; 0 = never
	Keep    int    // rotated files kept (Path.1 newest ... Path.Keep oldest)
	Stdout  io.Writer
}

// Sink writes batches as JSON lines.
type Sink struct {
	cfg  Config
	mu   sync.Mutex
	f    *os.File // nil when writing to Stdout
	size int64    // bytes of complete lines in f
	// dirty: a failed write may have left bytes after size; cut them off
	// before the next write.
	dirty bool
	// write is f.Write, replaceable by tests to inject short writes.
	write func([]byte) (int, error)
	sync  func() error
}

// Open opens (creating, appending to) the flow log. A file whose last line
// is cut short (a crash mid-write of an older version) is cut back to its
// last complete line first.
func Open(cfg Config) (*Sink, error) {
	s := &Sink{cfg: cfg}
	if cfg.Path == "" {
		if cfg.Stdout == nil {
			cfg.Stdout = os.Stdout
		}
		s.cfg = cfg
		s.write = cfg.Stdout.Write
		s.sync = func() error { return nil }
		return s, nil
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open opens cfg.Path and finds the end of its last complete line.
func (s *Sink) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	end, err := lastLineEnd(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, end
	if st, err := f.Stat(); err == nil && st.Size() != end {
		s.dirty = true
	}
	s.write, s.sync = f.Write, f.Sync
	return nil
}

// lastLineEnd returns the offset just after the file's last newline (0
// when it has none).
func lastLineEnd(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	buf := make([]byte, 4096)
	for end > 0 {
		n := int64(len(buf))
		if end < n {
			n = end
		}
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// Name implements pipeline.RecordSink.
func (s *Sink) Name() string {
	if s.cfg.Path == "" {
		return "jsonl:stdout"
	}
	return "jsonl:" + s.cfg.Path
}

// Durable implements pipeline.Durable: a file is fsynced per batch;
// stdout is whatever reads it.
func (s *Sink) Durable() bool { return s.cfg.Path != "" }

// WriteBatch implements pipeline.RecordSink: the batch's lines are written
// whole, then fsynced; on any error the file is cut back to where it was.
func (s *Sink) WriteBatch(_ context.Context, b pipeline.Batch) error {
	e := newEncoder(b)
	first, err := e.next()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil && s.cfg.Path != "" {
		if err := s.open(); err != nil { // a rotation that failed half-way
			return fmt.Errorf("flow log: %w", err)
		}
	}
	if s.f != nil {
		if err := s.cutBack(); err != nil {
			return err
		}
		if s.cfg.MaxSize > 0 && s.size > 0 && s.size+e.estimate(len(first)) > s.cfg.MaxSize {
			if err := s.rotate(); err != nil {
				return fmt.Errorf("flow log rotation: %w", err)
			}
		}
	}
	// Chunk by chunk, so a large batch (a shutdown of a full table) never
	// sits whole in memory; s.size moves only once all of it is synced.
	var total int64
	for chunk := first; len(chunk) > 0 && err == nil; {
		var n int
		n, err = s.write(chunk)
		total += int64(n)
		if err == nil && n < len(chunk) {
			err = io.ErrShortWrite
		}
		if err == nil {
			chunk, err = e.next()
		}
	}
	if err == nil {
		err = s.sync()
	}
	if err != nil {
		if s.f != nil {
			s.dirty = true
			s.cutBack() // best effort now; retried before the next write
		}
		return fmt.Errorf("flow log %s: %w", s.Name(), err)
	}
	s.size += total
	return nil
}

// chunkSize is how much of a batch is encoded before it is written.
const chunkSize = 1 << 20

// encoder encodes a batch's lines a chunk at a time.
type encoder struct {
	b   pipeline.Batch
	i   int // next record
	buf bytes.Buffer
	enc *json.Encoder
}

func newEncoder(b pipeline.Batch) *encoder {
	e := &encoder{b: b}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

// next returns the next chunk of whole lines, empty at the end. The
// chunk is valid until the next call.
func (e *encoder) next() ([]byte, error) {
	e.buf.Reset()
	for ; e.i < len(e.b.Records) && e.buf.Len() < chunkSize; e.i++ {
		if err := e.enc.Encode(Line{Record: e.b.Records[e.i], Instance: e.b.Instance, Seq: e.b.Seq}); err != nil {
			return nil, fmt.Errorf("encode flow record: %w", err)
		}
	}
	return e.buf.Bytes(), nil
}

// estimate is the batch's encoded size, exact when the first chunk held
// all of it, else extrapolated from the first chunk.
func (e *encoder) estimate(first int) int64 {
	if e.i >= len(e.b.Records) || e.i == 0 {
		return int64(first)
	}
	return int64(first) * int64(len(e.b.Records)) / int64(e.i)
}

// cutBack truncates what a failed write left after the last complete line.
func (s *Sink) cutBack() error {
	if !s.dirty {
		return nil
	}
	if err := s.f.Truncate(s.size); err != nil {
		return fmt.Errorf("flow log %s: cut back a partial write: %w", s.cfg.Path, err)
	}
	s.dirty = false
	return nil
}

// Close implements pipeline.RecordSink.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	return err
}

// Line is one line of the flow log: a record and the batch it came in,
// so a reader (or the restart after a crash) knows which records a batch
// holds.
type Line struct {
	flow.Record
	Instance string `json:"instance,omitempty"`
	Seq      uint64 `json:"seq,omitempty"`
}

// Encode is the batch as JSON lines.
func Encode(b pipeline.Batch) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range b.Records {
		if err := enc.Encode(Line{Record: b.Records[i], Instance: b.Instance, Seq: b.Seq}); err != nil {
			return nil, fmt.Errorf("encode flow record: %w", err)
		}
	}
	return buf.Bytes(), nil
}
