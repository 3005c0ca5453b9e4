package topview

import (
	"strings"
	"testing"
)

func TestParseGroup(t *testing.T) {
	tests := []struct {
		in   string
		want Group
		err  string
	}{
		{"5tuple", GroupFlow, ""}, {"5-tuple", GroupFlow, ""}, {"flow", GroupFlow, ""},
		{"src", GroupSrc, ""}, {"Source", GroupSrc, ""}, {"dst-ip", GroupDst, ""},
		{"pair", GroupPair, ""}, {"port", GroupDPort, ""}, {"dport", GroupDPort, ""},
		{"vni", GroupVNI, ""}, {"session", GroupVNI, ""}, {"mirror", GroupMirror, ""}, {"mirror-source", GroupMirror, ""},
		{"asn", "", `unknown grouping "asn": want one of 5tuple, src, dst, pair, dport, vni, mirror`},
	}
	for _, tc := range tests {
		g, err := ParseGroup(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseGroup(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || g != tc.want {
			t.Errorf("ParseGroup(%q) = %q, %v; want %q", tc.in, g, err, tc.want)
		}
	}
}

func TestParseSort(t *testing.T) {
	for _, s := range []string{"rate", "BYTES", "packets"} {
		if got, err := ParseSort(s); err != nil || !strings.EqualFold(string(got), s) {
			t.Errorf("ParseSort(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSort("speed"); err == nil || !strings.Contains(err.Error(), "want one of rate, bytes, packets") {
		t.Errorf("ParseSort(speed) error %v", err)
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		cur  Sort
		back bool
		want Sort
	}{
		{SortRate, false, SortBytes}, {SortBytes, false, SortPackets}, {SortPackets, false, SortRate},
		{SortRate, true, SortPackets}, {SortBytes, true, SortRate}, {"", false, SortRate},
	}
	for _, tc := range tests {
		if got := Next(Sorts, tc.cur, tc.back); got != tc.want {
			t.Errorf("Next(%q, back=%v) = %q, want %q", tc.cur, tc.back, got, tc.want)
		}
	}
	if g := Next(Groups, GroupMirror, false); g != GroupFlow {
		t.Errorf("grouping does not wrap around: %q", g)
	}
}
