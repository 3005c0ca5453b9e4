package main

import (
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// outputEnv is what an output may need to know about the daemon it
// plugs into.
type outputEnv struct {
	Iface    string // the mirror target interface
	Instance string // the appliance's identity (--instance, hostname by default)
	StateDir string // a directory of this daemon instance an output may keep spools and cursors in
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
