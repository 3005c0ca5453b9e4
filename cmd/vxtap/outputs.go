package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/enrich"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// outputEnv is what an output may need to know about the daemon it
// plugs into.
type outputEnv struct {
	Iface    string // the mirror target interface
	Instance string // the appliance's identity (--instance, hostname by default)
	StateDir string // a directory of this daemon instance an output may keep spools and cursors in
	// Sessions names each VNI's mirror session and ENI (from --config or
	// --aws-sessions, current after every SIGHUP reload).
	Sessions *enrich.Sessions
}

// output is one optional kind of output of `vxtap run`: its flags, and
// how its sinks are built from them. Each lives in its own out_*.go file
// and registers itself from init, so adding an output touches neither
// the daemon nor any other output. build runs before anything is
// attached: a bad flag fails the start and changes nothing; it returns
// no sinks when the output is not asked for.
type output struct {
	name  string
	flags []cli.Flag
	build func(c *cli.Context, env outputEnv) (pipeline.Outputs, error)
}

// outputs is every registered output, in registration order.
var outputs []output

func registerOutput(o output) { outputs = append(outputs, o) }

// outputFlags is every registered output's flags, for `vxtap run`.
func outputFlags() []cli.Flag {
	var fl []cli.Flag
	for _, o := range outputs {
		fl = append(fl, o.flags...)
	}
	return fl
}

// buildOutputs builds every registered output; on an error the sinks
// built so far are closed and nothing else has changed.
func buildOutputs(c *cli.Context, env outputEnv) (pipeline.Outputs, error) {
	var all pipeline.Outputs
	for _, o := range outputs {
		got, err := o.build(c, env)
		if err != nil {
			closeOutputs(all)
			return pipeline.Outputs{}, fmt.Errorf("output %s: %w", o.name, err)
		}
		all.Add(got)
	}
	return all, nil
}

// closeOutputs closes sinks that never reached a daemon.
func closeOutputs(o pipeline.Outputs) {
	for _, s := range o.Records {
		s.Close()
	}
	for _, s := range o.Events {
		s.Close()
	}
	for _, s := range o.Samples {
		s.Close()
	}
}

// parseSize reads a byte size: a number with an optional K, M, G or T
// suffix (powers of 1024), e.g. 512M.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.ToUpper(s), "B"))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (a number, optionally with K, M, G or T)", s)
	}
	if v > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v * mult, nil
}
