package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// seqReserve is how many sequence numbers one write of the state file
// reserves: the file is written once per this many batches, and a restart
// skips what the previous run reserved but did not use.
const seqReserve = 1024

// SeqFile hands out batch sequence numbers that strictly increase across
// restarts: it persists a reservation (a number no batch has used yet) in
// the state directory before handing out anything below it, so a daemon
// killed at any point starts above every Seq it ever gave. It also keeps
// the last Seq the restart ledger committed, for reconciling after a kill.
type SeqFile struct {
	path string
	mu   sync.Mutex
	st   seqState
	next uint64
}

type seqState struct {
	Reserved  uint64 `json:"reserved"`  // no batch has a Seq >= this yet
	Committed uint64 `json:"committed"` // the ledger holds every batch up to this one
	// ClockBase is the clock base the committed batch's records were made
	// with (ClockKeeper); absent when never given.
	ClockBase *int64 `json:"clock_base,omitempty"`
}

// OpenSeq reads (or creates) dir/seq.json.
func OpenSeq(dir string) (*SeqFile, error) {
	s := &SeqFile{path: filepath.Join(dir, "seq.json")}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("batch sequence: %w", err)
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("batch sequence %s: %w (remove it to start over)", s.path, err)
		}
	}
	s.next = max(s.st.Reserved, 1)
	return s, s.reserve()
}

// reserve writes a reservation above s.next; called with mu held.
func (s *SeqFile) reserve() error {
	st := s.st
	st.Reserved = s.next + seqReserve
	if err := writeFileSync(s.path, st); err != nil {
		return fmt.Errorf("batch sequence: %w", err)
	}
	s.st = st
	return nil
}

// Next returns the next Seq. When the reservation cannot be written it
// still returns a number unique in this run, with the error: the batch
// cannot be committed before the file is written again (Commit fails
// too, and extends the reservation when it succeeds).
func (s *SeqFile) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.next >= s.st.Reserved {
		err = s.reserve()
	}
	n := s.next
	s.next++
	return n, err
}

// Committed is the last Seq the ledger was known to hold.
func (s *SeqFile) Committed() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Committed
}

// Commit records that the ledger holds every batch up to seq.
func (s *SeqFile) Commit(seq uint64) error { return s.commit(seq, nil) }

// CommitBase implements ClockKeeper.
func (s *SeqFile) CommitBase(seq uint64, base int64) error { return s.commit(seq, &base) }

// CommittedBase implements ClockKeeper.
func (s *SeqFile) CommittedBase() (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.ClockBase == nil {
		return 0, false
	}
	return *s.st.ClockBase, true
}

func (s *SeqFile) commit(seq uint64, base *int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.st.Committed {
		return nil
	}
	st := s.st
	st.Committed = seq
	st.ClockBase = base
	st.Reserved = max(st.Reserved, s.next+seqReserve) // covers every number handed out
	if err := writeFileSync(s.path, st); err != nil {
		return fmt.Errorf("batch sequence: %w", err)
	}
	s.st = st
	return nil
}

// writeFileSync replaces path with v as JSON: a temporary file, fsynced,
// renamed over it, the directory fsynced, so a crash leaves the old or
// the new content, never a torn one.
func writeFileSync(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// MemSeq is a Sequencer kept in memory only (tests, offline runs).
type MemSeq struct {
	mu              sync.Mutex
	next, committed uint64
	base            *int64
}

// CommitBase implements ClockKeeper.
func (m *MemSeq) CommitBase(seq uint64, base int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq > m.committed {
		m.committed, m.base = seq, &base
	}
	return nil
}

// CommittedBase implements ClockKeeper.
func (m *MemSeq) CommittedBase() (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return 0, false
	}
	return *m.base, true
}

// Next implements Sequencer.
func (m *MemSeq) Next() (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	return m.next, nil
}

// Committed implements Sequencer.
func (m *MemSeq) Committed() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.committed
}

// Commit implements Sequencer.
func (m *MemSeq) Commit(seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq > m.committed {
		m.committed, m.base = seq, nil
	}
	return nil
}

// Sequencer numbers batches and remembers the last one the restart
// ledger holds.
type Sequencer interface {
	Next() (uint64, error)
	Committed() uint64
	Commit(seq uint64) error
}

// ClockKeeper is a Sequencer that keeps, with the committed number, the
// clock base the committed batch's records were made with (what the flow
// table added to the data path's clock to make wall times, unix ns;
// flow.ClockBaser). A restart then reads the table's times as the daemon
// that made the batch did, whatever the wall clock did in between.
type ClockKeeper interface {
	CommitBase(seq uint64, base int64) error
	CommittedBase() (base int64, ok bool)
}
