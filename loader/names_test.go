package loader

import (
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestCounterClasses: every counter has the class its C enum's boundaries
// give it; Go code decides by class, so these are what it relies on.
func TestCounterClasses(t *testing.T) {
	testutil.RequirePrivileged(t)
	o, err := Load(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	reasons, flags, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]flow.CounterClass{
		"flow": flow.ClassAccounted, "overflow": flow.ClassAccounted, "non_ip": flow.ClassAccounted, "filter_reject": flow.ClassAccounted,
		"not_mirror": flow.ClassPassed, "outer_fragment": flow.ClassPassed, "geneve_not_vxlan": flow.ClassPassed,
		"unknown_source": flow.ClassRefused, "unknown_vni": flow.ClassRefused,
		"short_outer_eth": flow.ClassMalformed, "short_inner_l4": flow.ClassMalformed, "bad_vxlan_flags": flow.ClassMalformed,
		"flow_insert_failed": flow.ClassLost,
		"truncated":          flow.ClassShape, "l4_truncated": flow.ClassShape, "dir_unknown": flow.ClassShape,
		"flow_start": flow.ClassEvent, "rb_wakeup": flow.ClassEvent, "ringbuf_full": flow.ClassLost,
		"decap_forwarded": flow.ClassEvent, "decap_jumbo": flow.ClassDecap, "decap_failed": flow.ClassDecap,
	}
	seen := 0
	for _, c := range append(reasons, flags...) {
		if c.Class == 0 {
			t.Errorf("%s has no class", c.Name)
		}
		if w, ok := want[c.Name]; ok {
			seen++
			if c.Class != w {
				t.Errorf("%s: class %d, want %d", c.Name, c.Class, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d of %d named counters found", seen, len(want))
	}
	for _, f := range flags {
		if f.Class == flow.ClassAccounted || f.Class == flow.ClassPassed || f.Class == flow.ClassRefused || f.Class == flow.ClassMalformed {
			t.Errorf("flag %s has a reason's class", f.Name)
		}
	}
}

// TestSharedConstants: the filter model (which has no BPF dependency)
// validates snap lengths against the data path's MAX_SNAP_LEN.
func TestSharedConstants(t *testing.T) {
	if filter.MaxSnapLen != MaxSnapLen {
		t.Errorf("filter.MaxSnapLen %d, MAX_SNAP_LEN %d", filter.MaxSnapLen, MaxSnapLen)
	}
}
