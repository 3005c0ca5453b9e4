package topview

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
)

func mkKey(vni uint32, src, dst string, proto uint8, sport, dport uint16) flow.Key {
	return flow.Key{VNI: vni, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: proto, SPort: sport, DPort: dport}
}

func TestFilterMatch(t *testing.T) {
	web := mkKey(42, "198.18.1.10", "203.0.113.5", 6, 51000, 443)
	dns := mkKey(7, "10.0.0.2", "198.19.0.53", 17, 3333, 53)
	ping6 := mkKey(42, "2001:db8::1", "2001:db8:ffff::2", 58, 0, 0)
	ping := mkKey(7, "10.0.0.2", "10.0.0.3", 1, 0, 0)
	mirror := netip.MustParseAddr("10.1.0.5")
	tests := []struct {
		expr string
		want []bool // web, dns, ping6, ping
	}{
		{"", []bool{true, true, true, true}},
		{"  ", []bool{true, true, true, true}},
		{"vni 42", []bool{true, false, true, false}},
		{"198.18.0.0/15", []bool{true, true, false, false}}, // web's source, dns's destination
		{"198.18.1.10", []bool{true, false, false, false}},
		{"src 198.18.0.0/15", []bool{true, false, false, false}},
		{"dst 198.18.0.0/15", []bool{false, true, false, false}},
		{"198.18.7.7/15", []bool{true, true, false, false}}, // host bits ignored
		{"2001:db8::/32", []bool{false, false, true, false}},
		{"port 443", []bool{true, false, false, false}},
		{"port 3333", []bool{false, true, false, false}},
		{"sport 3333", []bool{false, true, false, false}},
		{"dport 3333", []bool{false, false, false, false}},
		{"port 0", []bool{false, false, false, false}}, // ICMP has no ports to match
		{"tcp", []bool{true, false, false, false}},
		{"UDP", []bool{false, true, false, false}},
		{"icmp", []bool{false, false, true, true}}, // ICMP and ICMPv6
		{"icmpv6", []bool{false, false, true, false}},
		{"proto 17", []bool{false, true, false, false}},
		{"proto tcp", []bool{true, false, false, false}},
		{"vni 7 udp port 53", []bool{false, true, false, false}},
		{"vni 7 tcp", []bool{false, false, false, false}},
		{"10.0.0.0/8 icmp", []bool{false, false, false, true}},
		{"mirror 10.1.0.0/16", []bool{true, true, true, true}},
		{"mirror 10.2.0.5", []bool{false, false, false, false}},
	}
	keys := []flow.Key{web, dns, ping6, ping}
	for _, tc := range tests {
		f, err := ParseFilter(tc.expr)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tc.expr, err)
			continue
		}
		for i, k := range keys {
			if got := f.Match(&k, mirror); got != tc.want[i] {
				t.Errorf("%q on %v = %v, want %v", tc.expr, k, got, tc.want[i])
			}
		}
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"vni", `"vni" needs a value`},
		{"vni x", `vni "x": want a number from 0 to 16777215`},
		{"vni 16777216", `vni "16777216": want a number`},
		{"port 65536", `port "65536": want a number from 0 to 65535`},
		{"port -1", `port "-1"`},
		{"443", `bare number "443": say port 443, vni 443 or proto 443`},
		{"tcp bogus", `unknown term "bogus"`},
		{"10.0.0.0/33", `unknown term "10.0.0.0/33"`},
		{"src nothere", `src "nothere": not an address or CIDR`},
		{"proto 256", `proto "256": want a protocol name`},
		{"proto", `"proto" needs a value`},
	}
	for _, tc := range tests {
		_, err := ParseFilter(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "filter: ") {
			t.Errorf("ParseFilter(%q) error = %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
}

func TestFilterString(t *testing.T) {
	f, err := ParseFilter("  vni 42   TCP ")
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "vni 42 TCP" || f.Empty() {
		t.Errorf("String() = %q, Empty() = %v", f.String(), f.Empty())
	}
	if f, _ := ParseFilter(""); !f.Empty() {
		t.Error("empty expression is not an empty filter")
	}
}
