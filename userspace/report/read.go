package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vxtap/vxtap/userspace/flow"
)

// MaxLine is the longest flow log line read; a longer one is a bad line.
const MaxLine = 1 << 20

// maxLineErrors bounds the bad lines named one by one; the rest are counted.
const maxLineErrors = 20

// BadLines is every line of a flow log that is not a flow record. Reading
// goes on past them (a disk that filled once leaves one partial line; the
// rest of the log is still good), and the caller decides what they mean.
type BadLines struct {
	Name  string
	Count int
	First []error // the first maxLineErrors, each naming file:line
}

func (b *BadLines) Error() string {
	var s bytes.Buffer
	for i, e := range b.First {
		if i > 0 {
			s.WriteByte('\n')
		}
		s.WriteString(e.Error())
	}
	if more := b.Count - len(b.First); more > 0 {
		fmt.Fprintf(&s, "\n%s: %d more bad line(s)", b.Name, more)
	}
	return s.String()
}

func (b *BadLines) add(err error) {
	b.Count++
	if len(b.First) < maxLineErrors {
		b.First = append(b.First, err)
	}
}

// ReadRecords reads a flow log (JSON lines). A line that is not a flow
// record is named (file:line) in a *BadLines error returned with every
// good record, before and after it; any other error (a read error) stops
// the reading and is returned with the records read so far.
func ReadRecords(r io.Reader, name string) ([]flow.Record, error) {
	var out []flow.Record
	bad := &BadLines{Name: name}
	br := bufio.NewReaderSize(r, 64<<10)
	// Bounded by the input: each pass consumes one line.
	for line := 1; ; line++ {
		b, tooLong, err := readLine(br)
		if err != nil && err != io.EOF {
			return out, errors.Join(fmt.Errorf("%s:%d: %w", name, line, err), badOrNil(bad))
		}
		switch {
		case tooLong:
			bad.add(fmt.Errorf("%s:%d: not a flow record: longer than %d bytes", name, line, MaxLine))
		case len(bytes.TrimSpace(b)) == 0:
		default:
			var rec flow.Record
			if jerr := json.Unmarshal(b, &rec); jerr != nil {
				bad.add(fmt.Errorf("%s:%d: not a flow record: %w", name, line, jerr))
			} else {
				out = append(out, rec)
			}
		}
		if err == io.EOF {
			return out, badOrNil(bad)
		}
	}
}

func badOrNil(b *BadLines) error {
	if b.Count == 0 {
		return nil
	}
	return b
}

// readLine reads one line without its newline, at most MaxLine bytes; a
// longer line is consumed whole and reported as too long. At the end of
// the input err is io.EOF (with the last, unterminated line, if any).
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLine+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(buf, []byte("\n")), tooLong, err
	}
}
