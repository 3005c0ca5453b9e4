package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/pcapng"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Sampled inner frames to a pcapng file (--sample-file; --sample-rate and
// the filter rules' sample and capture settings choose the frames),
// rotated as tcpdump's -C, -G and -W do.
func init() {
	registerOutput(output{
		name: "pcapng",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "sample-file", Usage: "write sampled inner frames to this pcapng file (one interface per VNI named after its session, VNI and rule in each packet's comment)"},
			&cli.StringFlag{Name: "sample-file-max-size", Value: "0", Usage: "start a new sample file before one grows past this size, e.g. 100M (tcpdump -C); the previous one becomes FILE.1, FILE.1 becomes FILE.2, ..."},
			&cli.DurationFlag{Name: "sample-file-rotate-every", Usage: "start a new sample file this long after the current one began, e.g. 1h (tcpdump -G)"},
			&cli.IntFlag{Name: "sample-file-keep", Value: 10, Usage: "rotated sample files kept (tcpdump -W), 0 = delete at rotation"},
		},
		build: func(c *cli.Context, env outputEnv) (pipeline.Outputs, error) {
			path := c.String("sample-file")
			size, err := parseSize(c.String("sample-file-max-size"))
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --sample-file-max-size: %w", err)
			}
			rot := pcapng.Rotation{MaxSize: size, Every: c.Duration("sample-file-rotate-every"), Keep: c.Int("sample-file-keep")}
			if path == "" {
				if rot.MaxSize > 0 || rot.Every > 0 {
					return pipeline.Outputs{}, fmt.Errorf("flag --sample-file-max-size/--sample-file-rotate-every: needs --sample-file")
				}
				return pipeline.Outputs{}, nil
			}
			s, err := pcapng.CreateRotating(path, uint32(c.Uint("snap-len")), rot)
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --sample-file: %w", err)
			}
			if env.Sessions != nil {
				s.SetNames(func(vni uint32) string {
					v, _ := env.Sessions.Lookup(vni)
					return v.Name
				})
			}
			return pipeline.Outputs{Samples: []pipeline.SampleSink{s}}, nil
		},
	})
}
