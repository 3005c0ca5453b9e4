package report

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadRecords: any flow log is read into records and named bad lines;
// never a crash; the records then sum and print.
func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(goodLine + "\n"))
	f.Add([]byte(goodLine + "\n{\"vni\":42,\"src\n" + goodLine))
	f.Add([]byte(`{"vni":1,"src":"2001:db8::1","dst":"2001:db8::2","proto":58,"packets":18446744073709551615,"bytes":1}` + "\n" +
		`{"vni":1,"src":"2001:db8::1","dst":"2001:db8::2","proto":58,"packets":1,"bytes":1,"end_reason":"idle","truncated":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ReadRecords(bytes.NewReader(data), "flows.json")
		var bad *BadLines
		if err != nil && !errors.As(err, &bad) {
			t.Fatalf("a read from memory failed: %v", err)
		}
		if bad != nil && (bad.Count == 0 || !strings.Contains(bad.Error(), "flows.json:")) {
			t.Fatalf("bad lines without a place: %v", bad)
		}
		ts := Sum(recs)
		Overflows(ts)
		if err := WriteTSV(io.Discard, ts); err != nil {
			t.Fatal(err)
		}
		if err := WriteTable(io.Discard, ts); err != nil {
			t.Fatal(err)
		}
	})
}
