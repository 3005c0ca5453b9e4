package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/testutil"
)

func batch(seq uint64, n int) pipeline.Batch {
	b := pipeline.Batch{Instance: "i-1", Seq: seq, Time: time.Unix(1700000000, 0)}
	for i := 0; i < n; i++ {
		b.Records = append(b.Records, flow.Record{VNI: 42, Src: netip.MustParseAddr("198.18.0.1"),
			Dst: netip.MustParseAddr("198.18.0.2"), Proto: 6, SPort: uint16(i), DPort: 443,
			Packets: 1, Bytes: 100, First: b.Time, Last: b.Time, EndReason: flow.EndIdle})
	}
	return b
}

// readLines parses every line of path, failing on a partial or bad one.
func readLines(t *testing.T, path string) []Line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends in a partial line: %q", path, b[max(0, len(b)-40):])
	}
	var out []Line
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for n := 1; sc.Scan(); n++ {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		out = append(out, l)
	}
	return out
}

// TestRotateAndKeep: with a size limit the log rotates like logrotate's
// size/rotate: FILE.1 newest, at most Keep old files, no file past the
// limit, every line whole, nothing lost within what is kept.
func TestRotateAndKeep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	one, _ := Encode(batch(1, 3))
	s, err := Open(Config{Path: path, MaxSize: int64(len(one)) * 2, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 9; seq++ {
		if err := s.WriteBatch(context.Background(), batch(seq, 3)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// 9 batches, two per file: seq 9 in FILE, 7-8 in FILE.1, 5-6 in FILE.2; 1-4 rotated out.
	want := map[string][]uint64{path: {9}, path + ".1": {7, 8}, path + ".2": {5, 6}}
	for p, seqs := range want {
		lines := readLines(t, p)
		if len(lines) != 3*len(seqs) {
			t.Fatalf("%s: %d lines, want %d", p, len(lines), 3*len(seqs))
		}
		for i, l := range lines {
			if l.Seq != seqs[i/3] || l.Instance != "i-1" || l.Packets != 1 {
				t.Errorf("%s line %d: %+v", p, i+1, l)
			}
		}
		if st, _ := os.Stat(p); st.Size() > int64(len(one))*2 {
			t.Errorf("%s is %d bytes, over the limit", p, st.Size())
		}
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a third rotated file exists with --flow-log-keep 2: %v", err)
	}
}

// TestShortWriteCutBack: a write that stops half-way (a full disk) leaves
// no partial line; the next write, once it works, appends whole lines.
func TestShortWriteCutBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.WriteBatch(ctx, batch(1, 2)); err != nil {
		t.Fatal(err)
	}
	real := s.write
	s.write = func(b []byte) (int, error) {
		n, _ := real(b[:len(b)/2+3])
		return n, syscall.ENOSPC
	}
	if err := s.WriteBatch(ctx, batch(2, 5)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %v, want ENOSPC", err)
	}
	if l := readLines(t, path); len(l) != 2 {
		t.Fatalf("after the failed write %d lines, want the 2 before it", len(l))
	}
	s.write = real
	if err := s.WriteBatch(ctx, batch(2, 5)); err != nil {
		t.Fatalf("retry after space came back: %v", err)
	}
	if l := readLines(t, path); len(l) != 7 || l[6].Seq != 2 {
		t.Fatalf("after the retry %d lines, want 7", len(l))
	}
}

// TestReopenCutsPartialLine: a file an older version left ending in a
// partial line (a crash mid-write) gets it cut before new lines follow.
func TestReopenCutsPartialLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	good, _ := Encode(batch(1, 2))
	if err := os.WriteFile(path, append(good, `{"vni":42,"src":"198.`...), 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(context.Background(), batch(2, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if l := readLines(t, path); len(l) != 3 {
		t.Fatalf("%d lines, want 3", len(l))
	}
}

// TestDiskFull: on a real (small) tmpfs filled to the last byte, a batch
// fails with ENOSPC and leaves whole lines only; once space is freed, the
// same sink writes again (no sticky buffered writer).
func TestDiskFull(t *testing.T) {
	dir := testutil.Tmpfs(t, 256<<10)
	path := filepath.Join(dir, "flows.json")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.WriteBatch(ctx, batch(1, 10)); err != nil {
		t.Fatal(err)
	}
	testutil.Fill(t, filepath.Join(dir, "filler"))
	var failed error
	for seq := uint64(2); seq < 50 && failed == nil; seq++ {
		failed = s.WriteBatch(ctx, batch(seq, 200))
	}
	if !errors.Is(failed, syscall.ENOSPC) {
		t.Fatalf("writing to a full disk: %v, want ENOSPC", failed)
	}
	before := readLines(t, path)
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(ctx, batch(100, 10)); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	after := readLines(t, path)
	if len(after) != len(before)+10 || after[len(after)-1].Seq != 100 {
		t.Fatalf("after freeing space: %d lines, want %d", len(after), len(before)+10)
	}
}

// TestTailAndDropAfter: the committed batch and the uncommitted ones after
// it are found at the end of the log (another instance's lines are not
// touched); DropAfter keeps the refused lines whole and in order.
func TestTailAndDropAfter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	other := batch(9, 1)
	other.Instance = "i-2"
	for _, b := range []pipeline.Batch{batch(1, 2), other, batch(2, 3), batch(3, 4), batch(4, 2)} {
		if err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	last, after, err := s.Tail("i-1", 2)
	if err != nil || len(last) != 3 || len(after) != 6 {
		t.Fatalf("tail: %d committed, %d after, %v", len(last), len(after), err)
	}
	// Drop the records on even ports: batch 3 keeps ports 1 and 3, batch 4 port 1.
	err = s.DropAfter("i-1", 2, func(r flow.Record) bool { return r.SPort%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	var seqs []uint64
	for _, l := range lines {
		seqs = append(seqs, l.Seq)
	}
	want := []uint64{1, 1, 9, 2, 2, 2, 3, 3, 4}
	if fmt.Sprint(seqs) != fmt.Sprint(want) {
		t.Fatalf("seqs after DropAfter %v, want %v", seqs, want)
	}
	if err := s.WriteBatch(ctx, batch(5, 1)); err != nil {
		t.Fatal(err)
	}
	if l := readLines(t, path); len(l) != len(want)+1 {
		t.Fatalf("%d lines after a write following DropAfter", len(l))
	}
}

// TestLargeBatchFailsWhole: a batch larger than one chunk that fails on a
// later chunk leaves none of its lines behind.
func TestLargeBatchFailsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.json")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.WriteBatch(ctx, batch(1, 3)); err != nil {
		t.Fatal(err)
	}
	big := batch(2, 10000) // several chunks
	if b, _ := Encode(big); len(b) < 2*chunkSize {
		t.Fatalf("batch of %d bytes is not several chunks", len(b))
	}
	real, calls := s.write, 0
	s.write = func(b []byte) (int, error) {
		if calls++; calls == 2 {
			return real(b[:100])
		}
		return real(b)
	}
	if err := s.WriteBatch(ctx, big); err == nil {
		t.Fatal("a short second chunk was not an error")
	}
	if l := readLines(t, path); len(l) != 3 {
		t.Fatalf("%d lines after the failed batch, want the 3 before it", len(l))
	}
	s.write = real
	if err := s.WriteBatch(ctx, big); err != nil {
		t.Fatal(err)
	}
	if l := readLines(t, path); len(l) != 10003 {
		t.Fatalf("%d lines, want 10003", len(l))
	}
}
