package pcapng

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Sink is the pcapng writer as a pipeline.SampleSink: every sampled frame
// of the ring buffer, flushed after each drain, in a file rotated by size
// and time (Rotation).
type Sink struct {
	path    string
	snapLen uint32
	rot     Rotation
	names   func(vni uint32) string
	now     func() time.Time // the clock of time rotation (tests set it)

	mu     sync.Mutex
	f      *os.File
	cw     *countingWriter
	w      *Writer
	opened time.Time
	size   int64 // the file's bytes: exact after a flush, estimated between
	// Rotations counts the files started after the first.
	Rotations uint64
}

// Create truncates path and starts a pcapng section in it; no rotation.
func Create(path string, snapLen uint32) (*Sink, error) {
	return CreateRotating(path, snapLen, Rotation{})
}

// CreateRotating truncates path and starts a pcapng section in it,
// rotating by rot. The directory must take new files when rot rotates.
func CreateRotating(path string, snapLen uint32, rot Rotation) (*Sink, error) {
	if err := rot.Validate(); err != nil {
		return nil, err
	}
	if rot.MaxSize > 0 || rot.Every > 0 {
		if err := checkDir(path); err != nil {
			return nil, err
		}
	}
	s := &Sink{path: path, snapLen: snapLen, rot: rot, now: time.Now}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open starts a new file at s.path with its section and placeholder
// interface.
func (s *Sink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	cw := &countingWriter{f: f}
	w, err := NewWriter(cw, s.snapLen)
	if err != nil {
		f.Close()
		return err
	}
	w.Names = s.names
	if err := w.Flush(); err != nil { // the section header counts toward the size
		f.Close()
		return err
	}
	s.f, s.cw, s.w, s.opened, s.size = f, cw, w, s.now(), cw.n
	return nil
}

// SetNames names the session of a VNI in its interface description.
func (s *Sink) SetNames(fn func(vni uint32) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names = fn
	if s.w != nil {
		s.w.Names = fn
	}
}

// Name implements pipeline.SampleSink.
func (s *Sink) Name() string { return "pcapng:" + s.path }

// WriteSamples implements pipeline.SampleSink.
func (s *Sink) WriteSamples(_ context.Context, sm []flow.Sample) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil { // a rotation failed: try again
		if err := s.open(); err != nil {
			return fmt.Errorf("reopen %s: %w", s.path, err)
		}
	}
	for _, x := range sm {
		if err := s.rotateIfDue(x); err != nil {
			return err
		}
		if err := s.w.Write(x); err != nil {
			return err
		}
		s.size += sampleBytes(x)
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	s.size = s.cw.n
	return nil
}

// sampleBytes is about what one sample adds to the file: the enhanced
// packet block, its padding and comment.
func sampleBytes(x flow.Sample) int64 { return int64(len(x.Data)) + 96 }

// rotateIfDue closes the current file and starts the next when x would
// take it past the size, or the interval has passed.
func (s *Sink) rotateIfDue(x flow.Sample) error {
	if !s.rot.due(s.size, sampleBytes(x), s.opened, s.now()) {
		return nil
	}
	err := errors.Join(s.w.Flush(), s.f.Sync(), s.f.Close())
	s.f, s.w = nil, nil
	if err != nil {
		return fmt.Errorf("close %s for rotation: %w", s.path, err)
	}
	if err := shift(s.path, s.rot.Keep); err != nil {
		return fmt.Errorf("rotate %s: %w", s.path, err)
	}
	if err := s.open(); err != nil {
		return fmt.Errorf("start %s after rotation: %w", s.path, err)
	}
	s.Rotations++
	return nil
}

// Close flushes and closes the file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := errors.Join(s.w.Flush(), s.f.Sync(), s.f.Close())
	s.f, s.w = nil, nil
	return err
}

// countingWriter counts the bytes written through it: the file's size
// without a stat per sample.
type countingWriter struct {
	f *os.File
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}
