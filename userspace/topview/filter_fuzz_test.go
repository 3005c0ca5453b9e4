package topview

import (
	"net/netip"
	"testing"

	"github.com/vxtap/vxtap/userspace/flow"
)

// FuzzParseFilter: any filter expression (from the API's ?filter= or the
// top view's prompt) parses or is refused; a parsed one matches without a
// crash and its text parses again to the same filter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "vni 101", "src 198.18.0.0/15 and dport 443", "proto tcp port 80", "dst 2001:db8::1 sport 1-2", "mirror 198.18.0.11", "%zz", "port 99999"} {
		f.Add(s)
	}
	k4 := flow.Key{VNI: 101, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"), Proto: 6, SPort: 1000, DPort: 443}
	k6 := flow.Key{VNI: 7, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: 17, SPort: 53, DPort: 53}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			return
		}
		m4 := flt.Match(&k4, netip.MustParseAddr("198.18.0.11"))
		m6 := flt.Match(&k6, netip.Addr{})
		again, err := ParseFilter(flt.String())
		if err != nil {
			t.Fatalf("%q parsed, but its text %q does not: %v", expr, flt.String(), err)
		}
		if again.Match(&k4, netip.MustParseAddr("198.18.0.11")) != m4 || again.Match(&k6, netip.Addr{}) != m6 {
			t.Fatalf("%q and its text %q match differently", expr, flt.String())
		}
	})
}
