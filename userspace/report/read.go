package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vxtap/vxtap/userspace/flow"
)

// ReadRecords reads a flow log (JSON lines). A bad line is an error naming
// the file and line; the records before it are returned with it.
func ReadRecords(r io.Reader, name string) ([]flow.Record, error) {
	var out []flow.Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec flow.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return out, fmt.Errorf("%s:%d: not a flow record: %w", name, line, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
