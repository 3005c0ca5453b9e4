package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

func init() { commands = append(commands, trafficgenCommand()) }

func trafficgenCommand() *cli.Command {
	def := trafficgen.DefaultOptions()
	return &cli.Command{
		Name:  "trafficgen",
		Usage: "drive a known traffic mix through the netns lab and print the exact per-flow counts vxtap must see",
		Description: "Runs real TCP (payload both ways), UDP and ICMP/ICMPv6 exchanges over IPv4 and IPv6 between each\n" +
			"lab source's workload and its peer, and counts every packet crossing the mirrored interfaces\n" +
			"with AF_PACKET sockets: those are exactly the packets the sources mirror. Needs root and scripts/lab-up.sh.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lab-prefix", Value: "vxtap", EnvVars: []string{"VXTAP_LAB_PREFIX"}, Usage: "the lab to use (scripts/lab-up.sh prefix)"},
			&cli.IntFlag{Name: "rounds", Value: def.Rounds, Usage: "rounds of the mix per source"},
			&cli.DurationFlag{Name: "duration", Usage: "keep running rounds for this long"},
			&cli.DurationFlag{Name: "pause", Value: def.Pause, Usage: "pause between rounds"},
			&cli.StringFlag{Name: "format", Value: "tsv", Usage: "tsv (the truth-file layout) or json"},
			&cli.StringFlag{Name: "out", Usage: "write the expected counts here instead of stdout"},
		},
		Action: func(c *cli.Context) error {
			if f := c.String("format"); f != "tsv" && f != "json" {
				return cli.Exit(fmt.Sprintf("flag --format: %q is not tsv or json", f), 2)
			}
			if c.Int("rounds") < 1 {
				return cli.Exit("flag --rounds: must be at least 1", 2)
			}
			lab, err := trafficgen.LoadLab(c.String("lab-prefix"))
			if err != nil {
				return err
			}
			opt := trafficgen.DefaultOptions()
			opt.Rounds, opt.Duration, opt.Pause = c.Int("rounds"), c.Duration("duration"), c.Duration("pause")
			res, err := trafficgen.Run(lab, opt)
			if err != nil {
				return err
			}
			out := os.Stdout
			if p := c.String("out"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return fmt.Errorf("flag --out: %w", err)
				}
				defer f.Close()
				out = f
			}
			fmt.Fprintf(os.Stderr, "trafficgen: %d rounds, %d flows, %d non-IP frames\n", res.Rounds, len(res.Rows), res.NonIP)
			if c.String("format") == "json" {
				return trafficgen.WriteJSON(out, res.Rows)
			}
			return trafficgen.WriteTSV(out, res.Rows)
		},
	}
}
