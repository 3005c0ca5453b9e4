package topview

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vxtap/vxtap/userspace/rates"
)

func TestRender(t *testing.T) {
	res := Build(fixture(), Query{Sort: SortRate, Group: GroupFlow, N: 3})
	res.Iface, res.Source = "eth0", "daemon"
	res.Header.Datapath = &Datapath{MirrorPackets: 5000, MirrorPacketsPerSecond: 3500, Drops: 3, DropsPerSecond: 0.5, RingLost: 7}
	got := Render(&res, 0).String()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	want := []string{
		"flows 5 (matched 5, groups 5, shown 3)  total 12.9 Mb/s  3.40K pkt/s  57.0 MB",
		"mirror 3.50K pkt/s  drops 3 (0.5/s)  ring buffer lost 7",
		"VNI  SOURCE    DESTINATION  PROTO  PORTS         DIR  PKT/S     BITS/S    BYTES",
		"101  10.0.0.1  10.0.1.1     tcp    40000 -> 443  -      800  8.00 Mb/s  5.00 MB",
		"102  10.0.1.1  10.0.0.1     tcp    443 -> 40000  -      500  4.00 Mb/s  2.00 MB",
		"101  10.0.0.1  10.0.1.2     tcp    40001 -> 80   -    2.00K   800 Kb/s  50.0 MB",
	}
	if !strings.HasPrefix(lines[0], "vxtap top  eth0 (daemon)  sort: rate  group: 5-tuple  filter: none  ") {
		t.Errorf("title %q", lines[0])
	}
	if strings.Join(lines[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("table\n%s\nwant\n%s", strings.Join(lines[1:], "\n"), strings.Join(want, "\n"))
	}
}

func TestRenderCells(t *testing.T) {
	tests := []struct {
		name  string
		group Group
		flt   string
		want  []string // substrings of the first row, in order
		cols  string   // substring of the column line
	}{
		{"groups get a flow count and stars", GroupVNI, "", []string{"101", "*", "*", "*", "* -> *", "-", "3"}, "FLOWS"},
		{"mirror grouping shows the mirror source", GroupMirror, "", []string{"101", "10.9.0.1", "*", "*", "*", "* -> *", "-", "3"}, "MIRROR SOURCE"},
		{"no ports for ICMPv6", GroupFlow, "icmp", []string{"2001:db8::1", "2001:db8::2", "icmpv6", " - "}, "PORTS"},
		{"port group", GroupDPort, "udp", []string{"102", "10.0.0.2", "10.0.1.1", "udp", "5353 -> 53"}, "PORTS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := ParseFilter(tc.flt)
			res := Build(fixture(), Query{Group: tc.group, Filter: f})
			tab := Render(&res, 0)
			row := tab.Rows[0]
			at := 0
			for _, w := range tc.want {
				i := strings.Index(row[at:], w)
				if i < 0 {
					t.Fatalf("row %q: no %q after column %d", row, w, at)
				}
				at += i + len(w)
			}
			if !strings.Contains(tab.Columns, tc.cols) {
				t.Errorf("columns %q lack %q", tab.Columns, tc.cols)
			}
		})
	}
}

func TestRenderNarrow(t *testing.T) {
	tests := []struct {
		width   int
		sort    Sort
		columns string // the column line
		source  string // the first row's source
	}{
		{0, SortRate, "VNI  SOURCE                                  DESTINATION  PROTO   PORTS         DIR  PKT/S     BITS/S    BYTES", "2001:db8:1234:5678:9abc:def0:1234:5678"},
		{90, SortRate, "VNI  SOURCE              DESTINATION  PROTO   PORTS         DIR  PKT/S     BITS/S    BYTES", "2001:db8:…234:5678"},
		{80, SortRate, "VNI  SOURCE           DESTINATION  PROTO   PORTS         PKT/S     BITS/S", "2001:db…34:5678"},
		{80, SortBytes, "SOURCE           DESTINATION  PROTO   PORTS         PKT/S     BITS/S    BYTES", "2001:db…34:5678"},
		{60, SortRate, "SOURCE           DESTINATION  PORTS            BITS/S", "2001:db…34:5678"},
		{60, SortPackets, "SOURCE           DESTINATION  PORTS         PKT/S     BITS/S", "2001:db…34:5678"},
		{30, SortRate, "SOURCE           DESTINATION", "2001:db…34:5678"},
	}
	for _, tc := range tests {
		res := Build(fixture(), Query{Sort: tc.sort})
		res.Rows[0].Src = mustAddr("2001:db8:1234:5678:9abc:def0:1234:5678")
		tab := Render(&res, tc.width)
		if tab.Columns != tc.columns || !strings.Contains(tab.Rows[0]+" ", " "+tc.source+" ") && !strings.HasPrefix(tab.Rows[0], tc.source+" ") {
			t.Errorf("width %d, sort %s:\n got %q\n     %q\nwant %q with source %q", tc.width, tc.sort, tab.Columns, tab.Rows[0], tc.columns, tc.source)
		}
		for _, l := range append(append(tab.Title, tab.Columns), tab.Rows...) {
			if n := utf8.RuneCountInString(l); tc.width > 0 && n > tc.width {
				t.Errorf("width %d: line of %d: %q", tc.width, n, l)
			}
		}
	}
	// IPv4 addresses are never cut.
	res := Build(fixture(), Query{})
	for _, l := range Render(&res, 40).Rows {
		if strings.Contains(l, "…") {
			t.Errorf("IPv4 shortened: %q", l)
		}
	}
}

func TestRenderEmpty(t *testing.T) {
	tests := []struct {
		filter string
		flows  bool
		want   string
	}{
		{"vni 9", true, "(no flow matches the filter)"},
		{"", false, "(no flows in the table)"},
	}
	for _, tc := range tests {
		s := fixture()
		if !tc.flows {
			s = rates.NewSnapshot(at, time.Second, 9, nil)
		}
		res := Build(s, Query{Filter: must(ParseFilter(tc.filter))})
		if tab := Render(&res, 0); len(tab.Rows) != 1 || tab.Rows[0] != tc.want {
			t.Errorf("%q: rows %q, want %q", tc.filter, tab.Rows, tc.want)
		}
	}
}

func TestShorten(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"10.0.0.1", 8, "10.0.0.1"},
		{"2001:db8::1", 20, "2001:db8::1"},
		{"2001:db8:aaaa:bbbb::1", 9, "2001…b::1"},
		{"2001:db8:aaaa:bbbb::1", 10, "2001:…b::1"},
		{"abcdef", 2, "abcdef"},
	}
	for _, tc := range tests {
		if got := shorten(tc.in, tc.n); got != tc.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
