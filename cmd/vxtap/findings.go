package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/detect"
)

func init() { commands = append(commands, findingsCommand()) }

func findingsCommand() *cli.Command {
	return &cli.Command{
		Name:  "findings",
		Usage: "print the daemon's findings as JSON lines (GuardDuty's finding detail, plus vxtap's fields)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "iface", Value: "eth1", Usage: "the daemon's mirror target interface"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new and updated findings"},
			&cli.StringFlag{Name: "type", Usage: "only this finding type"},
			&cli.Float64Flag{Name: "min-severity", Usage: "only findings at least this severe (0-10)"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often --follow asks"},
		},
		Action: findings,
		Subcommands: []*cli.Command{{
			Name:      "check",
			Usage:     "check the detect: section of a configuration file and read its lists (errors name file:line)",
			ArgsUsage: "CONFIG",
			Action:    findingsCheck,
		}},
	}
}

func findingsCheck(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: vxtap findings check CONFIG", 2)
	}
	cfg, found, err := detect.LoadFile(c.Args().First())
	if err != nil {
		return err
	}
	if !found {
		cfg = detect.Default()
		fmt.Printf("%s has no detect: section: the defaults apply\n", c.Args().First())
	}
	threats, pools, domains, err := detect.CountLists(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("ok: %d threat list entries, %d mining pools, %d mining domains, %d suppression(s), %d severity override(s), webhook %v, exec %v\n",
		threats, pools, domains, len(cfg.Suppress), len(cfg.Severity), cfg.Webhook.URL != "", len(cfg.Exec.Command) > 0)
	return nil
}

func findings(c *cli.Context) error {
	if c.Duration("interval") <= 0 {
		return cli.Exit("flag --interval: want a positive duration", 2)
	}
	cl, err := api.Dial(c.String("iface"))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q := detect.Query{Type: c.String("type"), MinSeverity: c.Float64("min-severity")}
	enc := json.NewEncoder(os.Stdout)
	for {
		page, err := cl.Findings(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, f := range page.Findings {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		if !c.Bool("follow") {
			return nil
		}
		q.After = page.Seq
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Duration("interval")):
		}
	}
}
