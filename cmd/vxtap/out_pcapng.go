package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/export/pcapng"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// Sampled inner frames to a pcapng file (--sample-file; --sample-rate and
// the filter rules' sample settings choose the frames).
func init() {
	registerOutput(output{
		name: "pcapng",
		flags: []cli.Flag{
			&cli.StringFlag{Name: "sample-file", Usage: "write sampled inner frames to this pcapng file (one interface per VNI, VNI in each packet's comment)"},
		},
		build: func(c *cli.Context, _ outputEnv) (pipeline.Outputs, error) {
			path := c.String("sample-file")
			if path == "" {
				return pipeline.Outputs{}, nil
			}
			s, err := pcapng.Create(path, uint32(c.Uint("snap-len")))
			if err != nil {
				return pipeline.Outputs{}, fmt.Errorf("flag --sample-file: %w", err)
			}
			return pipeline.Outputs{Samples: []pipeline.SampleSink{s}}, nil
		},
	})
}
