package report

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
)

func rec(vni uint32, src, dst string, proto uint8, sp, dp uint16, pk, by uint64) flow.Record {
	return flow.Record{VNI: vni, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto,
		SPort: sp, DPort: dp, Packets: pk, Bytes: by}
}

// TestTSVOrderAndSums: records of one flow are summed; lines follow
// `sort -t TAB -k1,1n -k2,2 -k3,3 -k4,4n -k5,5n -k6,6n` in the C locale
// (addresses compare as strings, so "10." sorts before "9.").
func TestTSVOrderAndSums(t *testing.T) {
	rs := []flow.Record{
		rec(100, "9.9.9.9", "10.0.0.1", 17, 53, 1000, 1, 60),
		rec(42, "fd00::2", "fd00::1", 6, 443, 2, 1, 100),
		rec(42, "10.0.0.1", "9.9.9.9", 17, 1000, 53, 2, 120),
		rec(42, "10.0.0.1", "9.9.9.9", 17, 1000, 53, 3, 180),
		rec(42, "10.0.0.1", "9.9.9.9", 6, 1000, 53, 1, 40),
		rec(42, "10.0.0.1", "9.9.9.9", 17, 999, 53, 1, 60),
	}
	var b bytes.Buffer
	if err := WriteTSV(&b, Sum(rs)); err != nil {
		t.Fatal(err)
	}
	want := TruthHeader + "\n" +
		"42\t10.0.0.1\t9.9.9.9\t6\t1000\t53\t1\t40\n" +
		"42\t10.0.0.1\t9.9.9.9\t17\t999\t53\t1\t60\n" +
		"42\t10.0.0.1\t9.9.9.9\t17\t1000\t53\t5\t300\n" +
		"42\tfd00::2\tfd00::1\t6\t443\t2\t1\t100\n" +
		"100\t9.9.9.9\t10.0.0.1\t17\t53\t1000\t1\t60\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatting(t *testing.T) {
	cases := []struct{ got, want string }{
		{TCPFlags(0x12), "SA"},
		{TCPFlags(0x11), "FA"},
		{TCPFlags(0), "-"},
		{Endpoint("2001:db8::1", 443, 6), "[2001:db8::1]:443"},
		{Endpoint("198.18.0.1", 53, 17), "198.18.0.1:53"},
		{Endpoint("198.18.0.1", 0, 1), "198.18.0.1"},
		{ProtoName(58), "icmpv6"},
		{ProtoName(200), "200"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestTableHeaviestFirst(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, Sum([]flow.Record{rec(1, "198.18.0.1", "198.18.0.2", 6, 1, 2, 1, 10), rec(1, "198.18.0.3", "198.18.0.4", 6, 1, 2, 1, 9000)}))
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "198.18.0.3") {
		t.Errorf("heaviest flow not first:\n%s", b.String())
	}
}

// TestBadLinesNamedAndSkipped: a damaged line (a partial write of an
// older version, a stray edit) is named by number and the rest is read.
func TestBadLinesNamedAndSkipped(t *testing.T) {
	good := `{"vni":1,"src":"198.18.0.1","dst":"198.18.0.2","proto":17,"sport":1,"dport":2,"packets":3,"bytes":300}`
	in := good + "\n" + `{"vni":1,"src":"198.` + "\n" + good + "\n" + "garbage\n" + good
	recs, err := ReadRecords(strings.NewReader(in), "flows.json")
	var bad *BadLines
	if !errors.As(err, &bad) || bad.Count != 2 || !strings.Contains(err.Error(), "flows.json:4:") {
		t.Fatalf("error %v, want lines 2 and 4 named", err)
	}
	if !strings.Contains(err.Error(), "flows.json:2:") {
		t.Errorf("message %q does not name flows.json:2", err)
	}
	if len(recs) != 3 {
		t.Errorf("%d records read, want the 3 good ones", len(recs))
	}
}
