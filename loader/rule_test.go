package loader

import (
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestFlowRule: a flow's slot keeps the RuleNumber of the filter rule that
// accepted its first packet; a session without rules leaves it 0.
func TestFlowRule(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := loadFiltered(t, DefaultFilterCapacity)
	comp := compileYAML(t, "rules.yaml", `
sessions:
  42: {filter: f}
  43: {action: analyze}
filters:
  f:
    ingress: [{rule: 300, action: accept, protocol: udp}]
    egress: [{rule: 120, action: reject, protocol: tcp}, {rule: 200, action: accept}]
`)
	if _, err := o.FilterMaps().Apply(comp); err != nil {
		t.Fatal(err)
	}
	for _, vni := range []uint32{42, 43} {
		// outerSrc4 is neither inner address: direction from the outer
		// source is unknown, analyzed without rules; make the inner
		// destination the outer source so it is ingress.
		if _, err := o.RunPacket(from(outerSrc4, vni, ethL(0x0800), ip4L(17, in4a, outerSrc4), udpL(5000, 53), payload(8))(t), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint32]uint32{}
	if err := o.Walk(func(k flow.Key, c flow.Counters) { got[k.VNI] = c.Rule }); err != nil {
		t.Fatal(err)
	}
	if got[42] != 300 || got[43] != 0 || len(got) != 2 {
		t.Errorf("rules by VNI %v, want 42:300 43:0", got)
	}
}
