package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vxtap/vxtap/userspace/flow"
)

// ReadRecords reads a flow log (JSON lines). A line that is not a flow
// record (cut short, damaged) is skipped and named in a *BadLinesError
// returned with every good record; another error (an unreadable file) is
// returned with the records before it.
func ReadRecords(r io.Reader, name string) ([]flow.Record, error) {
	var out []flow.Record
	var bad *BadLinesError
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec flow.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			if bad == nil {
				bad = &BadLinesError{Name: name}
			}
			bad.add(line, err)
			continue
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	if bad != nil {
		return out, bad
	}
	return out, nil
}

// BadLinesError names the lines of a flow log that are not flow records.
type BadLinesError struct {
	Name  string
	Lines []int // line numbers, the first maxNamed of them
	Count int   // how many lines were bad
	First error // why the first one was
}

const maxNamed = 10 // bad lines named in the message; the rest are counted

func (e *BadLinesError) add(line int, err error) {
	if e.Count == 0 {
		e.First = err
	}
	e.Count++
	if len(e.Lines) < maxNamed {
		e.Lines = append(e.Lines, line)
	}
}

func (e *BadLinesError) Error() string {
	msg := fmt.Sprintf("%s:%d: not a flow record: %v", e.Name, e.Lines[0], e.First)
	if e.Count > 1 {
		msg += fmt.Sprintf(" (%d bad lines skipped, lines %v", e.Count, e.Lines)
		if e.Count > len(e.Lines) {
			msg += " ..."
		}
		msg += ")"
	}
	return msg
}
