package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/report"
)

func init() { commands = append(commands, reportCommand()) }

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:      "report",
		Usage:     "sum a flow log (JSON lines from vxtap run or analyze --json) per flow: top talkers",
		ArgsUsage: "FLOWLOG",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table (heaviest first) or tsv (the truth-file layout)"},
			&cli.IntFlag{Name: "top", Usage: "only the N heaviest flows (table), 0 = all"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: vxtap report [flags] FLOWLOG", 2)
			}
			path := c.Args().First()
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if f := c.String("format"); f != "tsv" && f != "table" {
				return cli.Exit(fmt.Sprintf("flag --format: %q is not table or tsv", f), 2)
			}
			recs, err := report.ReadRecords(f, path)
			var bad *report.BadLinesError
			if err != nil && !errors.As(err, &bad) {
				return err
			}
			// Bad lines are skipped: the report covers the rest, then
			// names them and exits non-zero.
			totals := report.Sum(recs)
			var werr error
			switch c.String("format") {
			case "tsv":
				werr = report.WriteTSV(os.Stdout, totals)
			case "table":
				sort.SliceStable(totals, func(i, j int) bool { return totals[i].Bytes > totals[j].Bytes })
				if n := c.Int("top"); n > 0 && n < len(totals) {
					totals = totals[:n]
				}
				werr = report.WriteTable(os.Stdout, totals)
			}
			if werr != nil {
				return werr
			}
			if bad != nil {
				return cli.Exit(bad.Error(), 1)
			}
			return nil
		},
	}
}
