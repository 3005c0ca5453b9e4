package daemon

import "github.com/vxtap/vxtap/userspace/flow"

// The aggregator finds the table's two-step removal through the wrappers.
var (
	_ flow.Detacher = observed{}
	_ flow.Detacher = observedOverflow{}
)
