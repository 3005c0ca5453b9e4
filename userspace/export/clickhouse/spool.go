package clickhouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// ErrSpoolFull is what WriteBatch returns when the spool has no room:
// the pipeline keeps the batch and hands it again, so nothing is lost
// while ClickHouse is away longer than the spool lasts.
var ErrSpoolFull = errors.New("clickhouse spool full")

// entry is one spooled chunk of a batch: at most the sink's batch rows
// records, named for good by (Instance, Seq, Chunk).
type entry struct {
	Instance string        `json:"instance"`
	Seq      uint64        `json:"seq"`
	Chunk    uint32        `json:"chunk"`
	Time     time.Time     `json:"time"` // the batch's sweep time: its ts and day
	Records  []flow.Record `json:"records"`
}

// day is the UTC day the entry's rows are partitioned by.
func (e *entry) day() string { return e.Time.UTC().Format("2006-01-02") }

// spoolFile is what the spool knows of an entry without reading it.
type spoolFile struct {
	name string
	seq  uint64
	size int64
	rows int
	day  string
	at   time.Time // when it was spooled (this process) or found (at start)
}

// spool is a directory of entries, one file each, named so that the
// directory's order is the batches' order. Every file is written to a
// temporary name, fsynced and renamed, and the directory fsynced, so a
// crash leaves a whole entry or none. Its bytes are bounded.
type spool struct {
	dir string
	max int64

	mu    sync.Mutex
	files []spoolFile // in order
	bytes int64
}

const spoolExt = ".chb"

func entryName(seq uint64, chunk uint32) string {
	return fmt.Sprintf("%020d-%06d%s", seq, chunk, spoolExt)
}

// openSpool opens (creating) dir and picks up the entries a previous run
// left, so they are shipped after a restart. Temporary files of a write
// that a crash cut short are removed.
func openSpool(dir string, max int64) (*spool, error) {
	if max <= 0 {
		return nil, fmt.Errorf("clickhouse spool %s: size %d: want more than 0 bytes", dir, max)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("clickhouse spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("clickhouse spool: %w", err)
	}
	s := &spool{dir: dir, max: max}
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if !strings.HasSuffix(name, spoolExt) {
			continue
		}
		e, size, err := s.read(name)
		if err != nil {
			// Keep it for a person to look at, out of the way of the shipper.
			os.Rename(filepath.Join(dir, name), filepath.Join(dir, name+".bad"))
			continue
		}
		s.files = append(s.files, spoolFile{name: name, seq: e.Seq, size: size, rows: len(e.Records), day: e.day(), at: time.Now()})
		s.bytes += size
	}
	sort.Slice(s.files, func(i, j int) bool { return s.files[i].name < s.files[j].name })
	return s, nil
}

// put stores an entry durably. An entry already spooled under the same
// name (a batch handed again) is replaced, not added.
func (s *spool) put(e *entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("clickhouse spool: encode batch %d: %w", e.Seq, err)
	}
	name := entryName(e.Seq, e.Chunk)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := -1
	for i := len(s.files) - 1; i >= 0; i-- {
		if s.files[i].name == name {
			old = i
			break
		}
	}
	used := s.bytes
	if old >= 0 {
		used -= s.files[old].size
	}
	if used+int64(len(data)) > s.max {
		return fmt.Errorf("%w: %d of %d bytes used, batch %d needs %d more (ClickHouse unreachable or slow?)", ErrSpoolFull, s.bytes, s.max, e.Seq, len(data))
	}
	if err := writeDurable(s.dir, name, data); err != nil {
		return fmt.Errorf("clickhouse spool: %w", err)
	}
	f := spoolFile{name: name, seq: e.Seq, size: int64(len(data)), rows: len(e.Records), day: e.day(), at: time.Now()}
	if old >= 0 {
		s.bytes -= s.files[old].size
		s.files[old] = f
	} else {
		s.files = append(s.files, f)
		// Batches arrive in order; a batch handed again after later ones
		// goes back to its place.
		if n := len(s.files); n > 1 && s.files[n-2].name > name {
			sort.Slice(s.files, func(i, j int) bool { return s.files[i].name < s.files[j].name })
		}
	}
	s.bytes += f.size
	return nil
}

// writeDurable writes dir/name through a temporary file, fsyncs it,
// renames it into place and fsyncs the directory.
func writeDurable(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *spool) read(name string) (*entry, int64, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return nil, 0, err
	}
	var e entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, 0, fmt.Errorf("clickhouse spool %s: %w", filepath.Join(s.dir, name), err)
	}
	if len(e.Records) == 0 || e.Instance == "" {
		return nil, 0, fmt.Errorf("clickhouse spool %s: no records or no instance", filepath.Join(s.dir, name))
	}
	return &e, int64(len(data)), nil
}

// next returns the oldest entries that one INSERT may carry: committed
// (Seq at most committed), same day (one partition, so the INSERT is one
// part), at most maxRows rows (the first entry alone may hold that many),
// in order. ready says whether they should go now: maxRows reached,
// another entry waits behind them, or the oldest has waited flush.
func (s *spool) next(maxRows int, flush time.Duration, now time.Time, committed uint64) (files []spoolFile, ready bool, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) == 0 || s.files[0].seq > committed {
		return nil, false, 0
	}
	rows := 0
	for _, f := range s.files {
		if f.seq > committed {
			break
		}
		if len(files) > 0 && (f.day != files[0].day || rows+f.rows > maxRows) {
			return files, true, 0
		}
		files = append(files, f)
		rows += f.rows
	}
	if rows >= maxRows {
		return files, true, 0
	}
	if age := now.Sub(s.files[0].at); age < flush {
		return files, false, flush - age
	}
	return files, true, 0
}

// lastDir keeps the chunks of the newest shipped batch: a restart after
// a kill asks for the records of the last committed batch (Recover), and
// that batch may be in ClickHouse already.
const lastDir = "last"

// remove takes shipped entries out of the queue: those of the newest
// batch among them move to lastDir (replacing what was there), the
// others are deleted.
func (s *spool) remove(files []spoolFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	top := files[len(files)-1].seq
	last := filepath.Join(s.dir, lastDir)
	if err := os.MkdirAll(last, 0o750); err != nil {
		return fmt.Errorf("clickhouse spool: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(last, "*"+spoolExt)); len(old) > 0 {
		for _, o := range old {
			os.Remove(o)
		}
	}
	done := map[string]bool{}
	for _, f := range files {
		var err error
		if f.seq == top {
			err = os.Rename(filepath.Join(s.dir, f.name), filepath.Join(last, f.name))
		} else {
			err = os.Remove(filepath.Join(s.dir, f.name))
		}
		if err != nil && !os.IsNotExist(err) {
			if first == nil {
				first = fmt.Errorf("clickhouse spool: %w", err)
			}
			continue
		}
		done[f.name] = true
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
	kept := s.files[:0]
	for _, f := range s.files {
		if done[f.name] {
			s.bytes -= f.size
			continue
		}
		kept = append(kept, f)
	}
	s.files = kept
	return first
}

// tail returns the records of batch committed of instance (from the
// queue, or lastDir once shipped) and those of the batches after it, in
// order. Batches after committed are never shipped: the shipper sends
// committed ones only.
func (s *spool) tail(instance string, committed uint64) (last, after []flow.Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, f := range s.files {
		if f.seq < committed {
			continue
		}
		e, _, err := s.read(f.name)
		if err != nil {
			return nil, nil, err
		}
		if e.Instance != instance {
			continue
		}
		if f.seq == committed {
			last, found = append(last, e.Records...), true
		} else {
			after = append(after, e.Records...)
		}
	}
	if found {
		return last, after, nil
	}
	names, _ := filepath.Glob(filepath.Join(s.dir, lastDir, "*"+spoolExt))
	sort.Strings(names)
	for _, n := range names {
		e, _, err := s.read(filepath.Join(lastDir, filepath.Base(n)))
		if err == nil && e.Instance == instance && e.Seq == committed {
			last = append(last, e.Records...)
		}
	}
	return last, after, nil
}

// dropAfter removes from the batches of instance after committed the
// records drop says the data path makes again; an entry left empty goes,
// one partly kept is rewritten (durably, same identity: never shipped).
func (s *spool) dropAfter(instance string, committed uint64, drop func(flow.Record) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.files[:0]
	var first error
	for _, f := range s.files {
		if f.seq <= committed {
			kept = append(kept, f)
			continue
		}
		e, _, err := s.read(f.name)
		if err != nil || e.Instance != instance {
			kept = append(kept, f)
			continue
		}
		recs := e.Records[:0]
		for _, r := range e.Records {
			if !drop(r) {
				recs = append(recs, r)
			}
		}
		e.Records = recs
		s.bytes -= f.size
		if len(recs) == 0 {
			if err := os.Remove(filepath.Join(s.dir, f.name)); err != nil && first == nil {
				first = fmt.Errorf("clickhouse spool: cut batch %d: %w", f.seq, err)
			}
			continue
		}
		data, err := json.Marshal(e)
		if err == nil {
			err = writeDurable(s.dir, f.name, data)
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("clickhouse spool: rewrite batch %d: %w", f.seq, err)
			}
			s.bytes += f.size
			kept = append(kept, f)
			continue
		}
		f.size, f.rows = int64(len(data)), len(recs)
		s.bytes += f.size
		kept = append(kept, f)
	}
	s.files = kept
	return first
}

// quarantine moves an entry that cannot be read out of the queue.
func (s *spool) quarantine(f spoolFile) {
	os.Rename(filepath.Join(s.dir, f.name), filepath.Join(s.dir, f.name+".bad"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.files {
		if s.files[i].name == f.name {
			s.bytes -= s.files[i].size
			s.files = append(s.files[:i], s.files[i+1:]...)
			break
		}
	}
}

// usage is the spool's bytes and entries.
func (s *spool) usage() (bytes int64, entries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes, len(s.files)
}
