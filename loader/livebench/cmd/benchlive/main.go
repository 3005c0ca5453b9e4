// Command benchlive is the live benchmark of issue 15 (`make bench-live`):
// crafted VXLAN mirror copies injected at full rate into a veth with
// BPF_PROG_RUN live frames, counted at the receiving veth, for each
// receiver (XDP_DROP, touch, vxtap run in four configurations, tcpdump,
// softflowd) interleaved, in both CPU modes, several repetitions each.
//
//	benchlive run    [flags]   measure; one CSV row per run
//	benchlive lossless [flags] for each receiver, a rate it handles without loss (paced runs)
//	benchlive report [flags]   medians, spread, chart and the table in docs/PERFORMANCE.md from a CSV
//
// It is a separate binary so that vxtap does not carry test programs.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchlive run|lossless|report [flags] (-h for the flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "lossless":
		err = cmdLossless(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: run, lossless or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchlive:", err)
		os.Exit(1)
	}
}
