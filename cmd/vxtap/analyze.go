package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/analyze"
	"github.com/vxtap/vxtap/userspace/capture"
	"github.com/vxtap/vxtap/userspace/report"
)

func init() { commands = append(commands, analyzeCommand()) }

func analyzeCommand() *cli.Command {
	return &cli.Command{
		Name:      "analyze",
		Usage:     "run a pcap/pcapng capture through the XDP program and print its flows",
		ArgsUsage: "FILE (- for standard input)",
		Description: "Every frame goes through the same XDP program the daemon attaches (BPF_PROG_TEST_RUN),\n" +
			"with the capture's timestamps as its clock. Needs CAP_BPF (root).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "table", Usage: "table, tsv (the corpus *.truth.tsv layout) or json (flow records as JSON lines)"},
			&cli.BoolFlag{Name: "json", Usage: "same as --format json"},
			&cli.BoolFlag{Name: "counters", Usage: "also print the data path counters (to stderr unless --format table)"},
			&cli.UintFlag{Name: "vxlan-port", Value: 4789, Usage: "outer UDP port of VXLAN"},
			&cli.UintFlag{Name: "geneve-port", Value: 6081, Usage: "outer UDP port of GENEVE, 0 = off"},
			&cli.DurationFlag{Name: "idle-timeout", Value: aggregate.DefaultConfig().IdleTimeout, Usage: "flow idle timeout, in capture time"},
			&cli.DurationFlag{Name: "active-timeout", Value: aggregate.DefaultConfig().ActiveTimeout, Usage: "flow active timeout, in capture time"},
			&cli.UintFlag{Name: "flow-table-size", Value: 1 << 18, Usage: "flow table entries (a full table refuses new flows: counted as flow_insert_failed)"},
		},
		Action: runAnalyze,
	}
}

func runAnalyze(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: vxtap analyze [flags] FILE (one capture file)", 2)
	}
	if err := positiveDurations(c, "idle-timeout", "active-timeout"); err != nil {
		return err
	}
	format := c.String("format")
	if c.Bool("json") {
		format = "json"
	}
	if format != "table" && format != "tsv" && format != "json" {
		return cli.Exit(fmt.Sprintf("flag --format: %q is not table, tsv or json", format), 2)
	}
	cfg := loader.DefaultConfig()
	cfg.OfflineClock = true
	if err := portFlag(c, "vxlan-port", &cfg.VXLANPort, false); err != nil {
		return err
	}
	if err := portFlag(c, "geneve-port", &cfg.GenevePort, true); err != nil {
		return err
	}
	size, err := uintFlag(c, "flow-table-size", 1, maxFlowTableSize)
	if err != nil {
		return err
	}
	cfg.FlowTableSize = uint32(size)
	agg := aggregate.DefaultConfig()
	agg.IdleTimeout, agg.ActiveTimeout = c.Duration("idle-timeout"), c.Duration("active-timeout")
	agg.TableSize = int(cfg.FlowTableSize)

	rd, err := capture.Open(c.Args().First())
	if err != nil {
		return err
	}
	defer rd.Close()
	objs, err := loader.Load(cfg)
	if err != nil {
		return err
	}
	defer objs.Close()
	events, err := objs.OpenEvents()
	if err != nil {
		return err
	}
	defer events.Close()

	res, runErr := analyze.Run(rd, objs, events, agg)
	if err := printAnalysis(c, format, res); err != nil {
		return err
	}
	warnUnanalyzed(c.Args().First(), res)
	return runErr
}

func printAnalysis(c *cli.Context, format string, res *analyze.Result) error {
	out := os.Stdout
	var err error
	switch format {
	case "tsv":
		err = report.WriteTSV(out, report.Sum(res.Records))
	case "json":
		err = report.WriteJSON(out, res.Records)
	default:
		err = report.WriteTable(out, report.Sum(res.Records))
	}
	if err != nil || !c.Bool("counters") || res.Reasons == nil {
		return err
	}
	cw := os.Stderr
	if format == "table" {
		cw = os.Stdout
		fmt.Fprintln(cw)
	}
	fmt.Fprintf(cw, "%d frames, %d records\n", res.Frames, len(res.Records))
	if err := report.WriteCounters(cw, "reason", res.Reasons); err != nil {
		return err
	}
	return report.WriteCounters(cw, "flag", res.Flags)
}

// portFlag reads a UDP port flag; zero allowed only where it means "off".
// positiveDurations refuses a duration flag of zero or less, naming it.
func positiveDurations(c *cli.Context, names ...string) error {
	for _, n := range names {
		if d := c.Duration(n); d <= 0 {
			return cli.Exit(fmt.Sprintf("flag --%s: %s is not a positive duration (e.g. 15s)", n, d), 2)
		}
	}
	return nil
}

func portFlag(c *cli.Context, name string, dst *uint16, zeroOK bool) error {
	v := c.Uint(name)
	if v > 65535 || (v == 0 && !zeroOK) {
		return cli.Exit(fmt.Sprintf("flag --%s: %d is not a UDP port (1-65535)", name, v), 2)
	}
	*dst = uint16(v)
	return nil
}

// warnUnanalyzed names the frames that never went through the data path
// (counted under their own reasons with --counters): a few by number,
// then how many more.
func warnUnanalyzed(path string, res *analyze.Result) {
	const shown = 10
	for i, rf := range res.Refused {
		if i == shown {
			fmt.Fprintf(os.Stderr, "warning: %s: %d more frame(s) not analyzed\n", path, len(res.Refused)-shown)
			break
		}
		fmt.Fprintf(os.Stderr, "warning: %s: %s (not analyzed, counted as %s)\n", path, rf, rf.Reason)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(os.Stderr, "warning: %s: %s (counted as not_ethernet)\n", path, s)
	}
}
