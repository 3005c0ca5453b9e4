package loader

import (
	"testing"
	"time"
)

// TestClockBaseSteady: two readings of the clock base, as two walks or two
// daemons take them, agree far within the slack a restart allows when it
// compares times across them (daemon/reconcile.go: 10 ms).
func TestClockBaseSteady(t *testing.T) {
	c := newClockConv(false)
	first := c.base()
	var worst int64
	for range 1000 {
		d := c.base() - first
		worst = max(worst, d, -d)
	}
	if worst > int64(500*time.Microsecond) {
		t.Errorf("clock bases differ by up to %s", time.Duration(worst))
	}
	t.Logf("clock bases differ by up to %s", time.Duration(worst))
}
