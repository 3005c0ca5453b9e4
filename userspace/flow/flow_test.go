package flow

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDirectionJSON: records carry the direction by name, leave it out
// while unknown, and read back what they wrote (vxtap report reads flow
// logs); a name that is no direction is an error naming it.
func TestDirectionJSON(t *testing.T) {
	for _, d := range []Direction{DirIngress, DirEgress, DirUnknown} {
		b, err := json.Marshal(Record{Direction: d})
		if err != nil {
			t.Fatal(err)
		}
		var back Record
		if err := json.Unmarshal(b, &back); err != nil || back.Direction != d {
			t.Errorf("%q: read back %v, %v", d, back.Direction, err)
		}
		if d == DirUnknown && strings.Contains(string(b), `"direction"`) {
			t.Errorf("unknown direction written: %s", b)
		}
	}
	var r Record
	if err := json.Unmarshal([]byte(`{"direction":"sideways"}`), &r); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("bad direction: %v", err)
	}
}
