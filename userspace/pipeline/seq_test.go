package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSeqFileAcrossRestarts: numbers grow within a run, across a run that
// crossed a reservation, and across a run that ended without a word (its
// unused reservation is skipped, never reused); Committed survives.
func TestSeqFileAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	var last uint64
	for run := 0; run < 3; run++ {
		s, err := OpenSeq(dir)
		if err != nil {
			t.Fatal(err)
		}
		if run > 0 && s.Committed() != last {
			t.Errorf("run %d: committed %d, want %d", run, s.Committed(), last)
		}
		for i := 0; i < seqReserve+5; i++ {
			n, err := s.Next()
			if err != nil {
				t.Fatal(err)
			}
			if n <= last {
				t.Fatalf("run %d: seq %d after %d", run, n, last)
			}
			last = n
		}
		if err := s.Commit(last); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSeqFileDamaged: a state file that does not read is an error naming
// it, not a silent restart from 1.
func TestSeqFileDamaged(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "seq.json"), []byte("{"), 0o600)
	if _, err := OpenSeq(dir); err == nil {
		t.Error("a damaged seq.json was accepted")
	}
}

// TestSeqFileClockBase: the clock base committed with a batch number is
// read back by the next run; a plain Commit after it forgets it (that
// batch's base is unknown).
func TestSeqFileClockBase(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSeq(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CommittedBase(); ok {
		t.Error("a new state file has a clock base")
	}
	n, _ := s.Next()
	if err := s.CommitBase(n, -42_000_000_123); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSeq(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := s.CommittedBase(); !ok || b != -42_000_000_123 || s.Committed() != n {
		t.Errorf("after a restart: base %d %v, committed %d; want -42000000123 and %d", b, ok, s.Committed(), n)
	}
	n, _ = s.Next()
	if err := s.Commit(n); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSeq(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.CommittedBase(); ok {
		t.Error("a batch committed without a base kept the previous one's")
	}
}
