package memtune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if !Apply() || debug.SetGCPercent(100) != GCPercent {
		t.Error("GOGC not set to GCPercent")
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	if Apply() || debug.SetGCPercent(200) != 200 {
		t.Error("an operator's GOGC was overridden")
	}
}
