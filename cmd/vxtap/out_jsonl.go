package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// The flow log: JSON lines to --flow-log, or stdout. Always on.
func init() {
	registerOutput(output{
		name: "jsonl",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "flow-log", Usage: "append flow records (JSON lines) to this file instead of stdout (fsynced per sweep)"},
			&cli.StringFlag{Name: "flow-log-max-size", Value: "0", Usage: "rotate the flow log before it grows past this size (e.g. 100M, 1G), 0 = never"},
			&cli.IntFlag{Name: "flow-log-keep", Value: 5, Usage: "rotated flow logs kept (FILE.1 newest ... FILE.N oldest), 0 = delete at rotation"},
		},
		build: func(c *cli.Context, _ outputEnv) (pipeline.Outputs, error) {
			size, err := parseSize(c.String("flow-log-max-size"))
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --flow-log-max-size: %w", err)
			}
			if c.Int("flow-log-keep") < 0 {
				return pipeline.Outputs{}, fmt.Errorf("flag --flow-log-keep: %d is negative", c.Int("flow-log-keep"))
			}
			if size > 0 && c.String("flow-log") == "" {
				return pipeline.Outputs{}, fmt.Errorf("flag --flow-log-max-size: needs --flow-log (stdout is not rotated)")
			}
			s, err := jsonl.Open(jsonl.Config{Path: c.String("flow-log"), MaxSize: size, Keep: c.Int("flow-log-keep")})
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --flow-log: %w", err)
			}
			return pipeline.Outputs{Records: []pipeline.RecordSink{s}}, nil
		},
	})
}
