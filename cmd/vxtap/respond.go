package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/detect"
	"github.com/vxtap/vxtap/userspace/respond"
)

func init() { commands = append(commands, respondCommand()) }

func respondCommand() *cli.Command {
	return &cli.Command{
		Name:  "respond",
		Usage: "act on findings",
		Subcommands: []*cli.Command{{
			Name: "cloudwan",
			Usage: "move each finding's VPC attachment to a Cloud WAN segment by severity (<= 3.9 inspected, <= 6.9 onlyshared, " +
				"else blocked, Critical included): prints the AWS CLI calls, --apply makes them",
			ArgsUsage: "[FINDINGS|-]  (JSON lines, an array, or EventBridge envelopes; default stdin)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "attachments", Required: true, Usage: "YAML map of attachments to their VPC and ENIs (and account, tag_key)"},
				&cli.BoolFlag{Name: "apply", Usage: "make the calls (default: print them only)"},
				&cli.StringFlag{Name: "aws", Value: "aws", Usage: "the AWS CLI to run with --apply"},
				&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "per call with --apply"},
			},
			Action: respondCloudWAN,
		}},
	}
}

func respondCloudWAN(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("usage: vxtap respond cloudwan --attachments FILE [--apply] [FINDINGS|-]", 2)
	}
	m, err := respond.LoadAttachments(c.String("attachments"))
	if err != nil {
		return fmt.Errorf("flag --attachments: %w", err)
	}
	name, in := "stdin", io.Reader(os.Stdin)
	if p := c.Args().First(); p != "" && p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		name, in = p, f
	}
	fs, errs := respond.ReadFindings(name, in)
	acts, perrs := respond.Plan(fs, m)
	errs = append(errs, perrs...)
	for _, a := range acts {
		fmt.Printf("# %s -> segment %s (severity %g, %s; findings %v)\n", a.Attachment.ID, a.Segment, a.Severity, detect.SeverityLabel(a.Severity), a.Findings)
		fmt.Println(a.Command())
		if c.Bool("apply") {
			ctx, cancel := context.WithTimeout(context.Background(), c.Duration("timeout"))
			err := respond.Apply(ctx, c.String("aws"), a)
			cancel()
			if err != nil {
				errs = append(errs, err)
			} else {
				fmt.Printf("# applied\n")
			}
		}
	}
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "vxtap respond: %v\n", e)
	}
	if len(errs) > 0 {
		return cli.Exit(fmt.Sprintf("vxtap respond: %d finding(s) or call(s) failed; the others were handled", len(errs)), 1)
	}
	return nil
}
