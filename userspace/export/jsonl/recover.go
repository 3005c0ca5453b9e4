package jsonl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/vxtap/vxtap/userspace/flow"
)

// tailLine is a line of the uncommitted tail: its record, raw bytes and
// offset.
type tailLine struct {
	rec flow.Record
	raw []byte
	off int64
}

// scanTail reads the flow log backwards: the lines of instance with a Seq
// above committed (a batch written, or half written, by a daemon killed
// before it committed it), in file order, and the records of batch
// committed. It reads only the tail: at most a batch or two are ever
// uncommitted. Called with mu held.
func (s *Sink) scanTail(instance string, committed uint64) (after []tailLine, last []flow.Record, err error) {
	if s.f == nil {
		return nil, nil, nil
	}
	err = backLines(s.f, s.size, func(line []byte, off int64) bool {
		var l Line
		if json.Unmarshal(line, &l) != nil || l.Instance != instance || l.Seq == 0 {
			return false
		}
		switch {
		case l.Seq > committed:
			after = append(after, tailLine{rec: l.Record, raw: append([]byte(nil), line...), off: off})
			return true
		case l.Seq == committed:
			last = append(last, l.Record)
			return true
		}
		return false
	})
	if err != nil {
		return nil, nil, fmt.Errorf("flow log %s: %w", s.cfg.Path, err)
	}
	if len(last) == 0 && s.cfg.MaxSize > 0 && s.cfg.Keep > 0 {
		// Rotated just before the batch after it: the committed batch ends
		// the newest rotated file.
		if f, err := os.Open(rotated(s.cfg.Path, 1)); err == nil {
			if st, err := f.Stat(); err == nil {
				backLines(f, st.Size(), func(line []byte, _ int64) bool {
					var l Line
					if json.Unmarshal(line, &l) != nil || l.Instance != instance || l.Seq != committed {
						return false
					}
					last = append(last, l.Record)
					return true
				})
			}
			f.Close()
		}
	}
	reverse(after)
	reverse(last)
	return after, last, nil
}

func reverse[T any](x []T) {
	for i, j := 0, len(x)-1; i < j; i, j = i+1, j-1 {
		x[i], x[j] = x[j], x[i]
	}
}

// Tail implements pipeline.Recoverer.
func (s *Sink) Tail(instance string, committed uint64) (last, after []flow.Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tail, last, err := s.scanTail(instance, committed)
	for _, l := range tail {
		after = append(after, l.rec)
	}
	return last, after, err
}

// DropAfter implements pipeline.Recoverer: the uncommitted tail is cut
// and the lines drop refuses are written back, whole, in their order,
// and fsynced.
func (s *Sink) DropAfter(instance string, committed uint64, drop func(flow.Record) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tail, _, err := s.scanTail(instance, committed)
	if err != nil || len(tail) == 0 {
		return err
	}
	var keep []byte
	for _, l := range tail {
		if !drop(l.rec) {
			keep = append(append(keep, l.raw...), '\n')
		}
	}
	cut := tail[0].off
	if err := s.f.Truncate(cut); err != nil {
		return fmt.Errorf("flow log %s: cut uncommitted records: %w", s.cfg.Path, err)
	}
	s.size = cut
	if len(keep) > 0 {
		n, err := s.write(keep)
		if err == nil && n < len(keep) {
			err = io.ErrShortWrite
		}
		if err != nil {
			s.dirty = true
			return fmt.Errorf("flow log %s: keep uncommitted records: %w", s.cfg.Path, err)
		}
		s.size += int64(n)
	}
	if err := s.sync(); err != nil {
		return fmt.Errorf("flow log %s: %w", s.cfg.Path, err)
	}
	return nil
}

// backLines calls fn for each line of f[:end], last line first, with the
// line's offset, until fn returns false. Lines longer than 1 MiB stop it.
func backLines(f *os.File, end int64, fn func(line []byte, off int64) bool) error {
	const chunk = 64 << 10
	var tail []byte // bytes after the last newline found, not yet a whole line
	pos := end
	for pos > 0 {
		n := int64(chunk)
		if pos < n {
			n = pos
		}
		buf := make([]byte, n, n+int64(len(tail)))
		if _, err := f.ReadAt(buf, pos-n); err != nil {
			return err
		}
		pos -= n
		buf = append(buf, tail...)
		// buf holds f[pos : pos+len(buf)]; the last byte ends a line.
		for {
			body := bytes.TrimSuffix(buf, []byte{'\n'})
			i := bytes.LastIndexByte(body, '\n')
			if i < 0 {
				break
			}
			if !fn(body[i+1:], pos+int64(i)+1) {
				return nil
			}
			buf = buf[:i+1]
		}
		tail = buf
		if len(tail) > 1<<20 {
			return fmt.Errorf("a line longer than 1 MiB before offset %d", pos+int64(len(tail)))
		}
	}
	if body := bytes.TrimSuffix(tail, []byte{'\n'}); len(body) > 0 {
		fn(body, 0)
	}
	return nil
}
