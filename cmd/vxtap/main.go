// Command vxtap is the AWS VPC Traffic Mirroring analyzer: an XDP fast path
// that decapsulates mirror copies and accounts inner flows, and the tools
// around it.
package main

import (
	"fmt"
	"os"
	"sort"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
)

// commands is filled by each command's file in init(), so adding a command
// touches only its own file.
var commands []*cli.Command

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	app := &cli.App{
		Name:     "vxtap",
		Usage:    "analyze AWS VPC Traffic Mirroring copies with an XDP fast path",
		Version:  version,
		Commands: commands,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"VXTAP_LOG_LEVEL"}},
		},
		Before: func(c *cli.Context) error {
			lvl, err := zerolog.ParseLevel(c.String("log-level"))
			if err != nil {
				return fmt.Errorf("flag --log-level: %w", err)
			}
			zerolog.SetGlobalLevel(lvl)
			return nil
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "vxtap: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// exitCode keeps urfave's explicit exit codes and maps everything else to 1.
func exitCode(err error) int {
	if ec, ok := err.(cli.ExitCoder); ok {
		return ec.ExitCode()
	}
	return 1
}
