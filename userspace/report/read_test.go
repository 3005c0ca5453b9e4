package report

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
)

const goodLine = `{"vni":42,"src":"198.18.0.1","dst":"198.18.0.2","proto":17,"sport":1,"dport":2,"packets":3,"bytes":300}`

// TestReadRecordsBadLine: one bad line (a partial line a full disk left,
// garbage, an over-long line) used to stop the reading. It is named by
// file:line, and every good record before and after it is returned.
func TestReadRecordsBadLine(t *testing.T) {
	in := goodLine + "\n" +
		`{"vni":42,"src":"198.18.0.1","dst":"198.` + "\n" + // cut by ENOSPC
		goodLine + "\n" +
		"\n" +
		strings.Repeat("x", MaxLine+10) + "\n" +
		goodLine // no final newline
	recs, err := ReadRecords(strings.NewReader(in), "flows.json")
	if len(recs) != 3 {
		t.Fatalf("%d records, want the 3 good ones", len(recs))
	}
	var bad *BadLines
	if !errors.As(err, &bad) || bad.Count != 2 {
		t.Fatalf("error %v, want 2 bad lines", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "flows.json:2:") || !strings.Contains(msg, "flows.json:5:") || !strings.Contains(msg, "longer than") {
		t.Errorf("error %q does not name lines 2 and 5", msg)
	}
}

// TestSumOverflow: sums used to wrap round past 2^64-1 (two records of
// 2^63 packets summed to 0). They stop at 2^64-1 and the flow is named.
func TestSumOverflow(t *testing.T) {
	r := rec(42, "198.18.0.1", "198.18.0.2", 17, 1, 2, 1<<63, 100)
	ok := rec(42, "198.18.0.1", "198.18.0.3", 17, 1, 2, 5, 100)
	ts := Sum([]flow.Record{r, r, ok})
	var over Total
	for _, t := range ts {
		if t.Dst.String() == "198.18.0.2" {
			over = t
		}
	}
	if !over.Overflow || over.Packets != math.MaxUint64 || over.Bytes != 200 {
		t.Fatalf("overflowed total %+v", over)
	}
	err := Overflows(ts)
	if err == nil || !strings.Contains(err.Error(), "198.18.0.1:1 -> 198.18.0.2:2") || strings.Contains(err.Error(), "198.18.0.3") {
		t.Fatalf("Overflows: %v", err)
	}
}
