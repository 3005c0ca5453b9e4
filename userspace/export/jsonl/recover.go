package jsonl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Recover implements pipeline.Recoverer: it reads the flow log backwards,
// cuts the trailing lines of instance with a Seq above committed (a batch
// written, or half written, by a daemon killed before it committed it),
// and returns the lines of batch committed. It reads only the tail: at
// most a batch or two are ever uncommitted.
func (s *Sink) Recover(instance string, committed uint64) ([]flow.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil, nil
	}
	cut := s.size
	var last []flow.Record
	err := backLines(s.f, s.size, func(line []byte, off int64) bool {
		var l Line
		if json.Unmarshal(line, &l) != nil || l.Instance != instance || l.Seq == 0 {
			return false
		}
		switch {
		case l.Seq > committed:
			cut = off
			return true
		case l.Seq == committed:
			last = append(last, l.Record)
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("flow log %s: %w", s.cfg.Path, err)
	}
	if cut < s.size {
		if err := s.f.Truncate(cut); err != nil {
			return nil, fmt.Errorf("flow log %s: cut uncommitted records: %w", s.cfg.Path, err)
		}
		s.size = cut
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
	// Read backwards: put the batch back in its order.
	for i, j := 0, len(last)-1; i < j; i, j = i+1, j-1 {
		last[i], last[j] = last[j], last[i]
	}
	return last, nil
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
