package apitest

import (
	"sync"

	"github.com/vxtap/vxtap/userspace/detect"
)

// Findings is an in-memory api.FindingsSource: findings put in it are
// listed as the daemon's store lists them (least recently changed first,
// only those changed after the sequence asked for).
type Findings struct {
	mu  sync.Mutex
	fs  []detect.Finding
	at  []uint64 // sequence of each finding's last change
	seq uint64
}

// Put adds a finding, or replaces the one with its ID (an update).
func (s *Findings) Put(f detect.Finding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	for i := range s.fs {
		if s.fs[i].ID == f.ID {
			s.fs = append(s.fs[:i], s.fs[i+1:]...)
			s.at = append(s.at[:i], s.at[i+1:]...)
			break
		}
	}
	s.fs = append(s.fs, f)
	s.at = append(s.at, s.seq)
}

// List implements api.FindingsSource.
func (s *Findings) List(q detect.Query) ([]detect.Finding, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []detect.Finding
	for i, f := range s.fs {
		if s.at[i] > q.After && (q.Type == "" || f.Type == q.Type) && f.Severity >= q.MinSeverity {
			out = append(out, f)
		}
	}
	return out, s.seq
}
