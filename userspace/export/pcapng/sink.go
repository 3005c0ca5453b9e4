package pcapng

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Sink is the pcapng writer as a pipeline.SampleSink: every sampled frame
// of the ring buffer, written to one file and flushed after each drain.
type Sink struct {
	f *os.File
	w *Writer
}

// Create truncates path and starts a pcapng section in it.
func Create(path string, snapLen uint32) (*Sink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(f, snapLen)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Sink{f: f, w: w}, nil
}

// SetNames names the session of a VNI in its interface description.
func (s *Sink) SetNames(fn func(vni uint32) string) { s.w.Names = fn }

// Name implements pipeline.SampleSink.
func (s *Sink) Name() string { return "pcapng:" + s.f.Name() }

// WriteSamples implements pipeline.SampleSink.
func (s *Sink) WriteSamples(_ context.Context, sm []flow.Sample) error {
	for _, x := range sm {
		if err := s.w.Write(x); err != nil {
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	return nil
}

// Close flushes and closes the file.
func (s *Sink) Close() error {
	return errors.Join(s.w.Flush(), s.f.Sync(), s.f.Close())
}
