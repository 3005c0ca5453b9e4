package loader

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFilterDirUnknownCounted: a copy whose direction the session cannot
// tell is counted once under dir_unknown, with its wire bytes, whatever
// the session does with it (classify.h counts it itself, not through
// p->flags); one with a known direction is not.
func TestFilterDirUnknownCounted(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	comp := compileYAML(t, "dir.yaml", `
sessions:
  42: {filter: f}
  43: {filter: f, unknown_direction: reject}
  44: {filter: f, unknown_direction: ingress}
filters:
  f: {ingress: [{rule: 1, action: accept}], egress: [{rule: 1, action: accept}]}
`)
	if _, err := o.FilterMaps().Apply(comp); err != nil {
		t.Fatal(err)
	}
	eni, a, b := netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	flag := func() (pk, by uint64) {
		_, flags, err := o.Counters()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range flags {
			if f.Name == "dir_unknown" {
				return f.Packets, f.Bytes
			}
		}
		t.Fatal("no dir_unknown counter")
		return 0, 0
	}
	for _, c := range []struct {
		vni     uint32
		src     netip.Addr
		unknown bool
	}{{42, a, true}, {43, a, true}, {44, a, true}, {42, eni, false}, {44, eni, false}} {
		p := filter.Packet{VNI: c.vni, OuterSrc: eni, Src: c.src, Dst: b, Proto: 17, SrcPort: 53, DstPort: 53}
		frame := filterFrame(t, p)
		pk, by := flag()
		if _, err := o.RunPacket(frame, time.Time{}); err != nil {
			t.Fatal(err)
		}
		pk2, by2 := flag()
		want := uint64(0)
		if c.unknown {
			want = 1
		}
		if pk2-pk != want || by2-by != want*uint64(len(frame)) {
			t.Errorf("VNI %d from %s: dir_unknown counted %d packets, %d bytes; want %d, %d", c.vni, c.src, pk2-pk, by2-by, want, want*uint64(len(frame)))
		}
	}
}
