// Package memtune sets the garbage collector for the daemon. Its per-flow
// state lives outside the Go heap (package offheap), so what is left is
// a few MB of records, events, scrapes and API views: collecting often
// is cheap, and every MB of garbage the goal allows is resident memory
// the process keeps. A low GOGC keeps that garbage to a quarter of the
// small live heap.
package memtune

import (
	"os"
	"runtime/debug"
)

// GCPercent is the daemon's GOGC: the heap may grow a quarter past what
// the last collection left live.
const GCPercent = 25

// Apply sets GCPercent unless the operator set GOGC (or GOMEMLIMIT) in
// the environment; it says whether it did.
func Apply() bool {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(GCPercent)
	return true
}
