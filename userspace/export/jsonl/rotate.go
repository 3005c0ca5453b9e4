package jsonl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// rotate moves Path to Path.1 (Path.1 to Path.2, ...), drops what is
// beyond Keep, and opens a new Path. Called with mu held.
func (s *Sink) rotate() error {
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f = nil
	if s.cfg.Keep <= 0 {
		if err := os.Remove(s.cfg.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return s.open()
	}
	if err := os.Remove(rotated(s.cfg.Path, s.cfg.Keep)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Bounded by Keep: shift each kept file one place, oldest first.
	for i := s.cfg.Keep - 1; i >= 1; i-- {
		if err := os.Rename(rotated(s.cfg.Path, i), rotated(s.cfg.Path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(s.cfg.Path, rotated(s.cfg.Path, 1)); err != nil {
		return err
	}
	return s.open()
}

// rotated is the name of the i-th newest rotated file.
func rotated(path string, i int) string { return fmt.Sprintf("%s.%d", path, i) }
