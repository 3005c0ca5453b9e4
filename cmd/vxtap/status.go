package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/ifname"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/report"
)

func init() { commands = append(commands, statusCommand()) }

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the attached program, its counters and the flow table of each interface",
		Flags: []cli.Flag{ifaceFlag(false, "one interface (default: every pinned one)")},
		Action: func(c *cli.Context) error {
			ifaces := []string{c.String("iface")}
			if ifaces[0] == "" {
				entries, _ := os.ReadDir(loader.PinRoot)
				ifaces = ifaces[:0]
				for _, e := range entries {
					// Only this network namespace's: another's interface is not here.
					if name, ok := ifname.Local(e.Name()); ok {
						ifaces = append(ifaces, name)
					}
				}
				if len(ifaces) == 0 {
					return cli.Exit("no vxtap program is attached (nothing pinned under "+loader.PinRoot+")", 1)
				}
				sort.Strings(ifaces)
			}
			for i, iface := range ifaces {
				if i > 0 {
					fmt.Println()
				}
				if err := printStatus(iface); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func printStatus(iface string) error {
	if !loader.Pinned(iface) {
		return cli.Exit(fmt.Sprintf("no vxtap program is attached to %s (nothing pinned under %s)", iface, loader.PinDir(iface)), 1)
	}
	objs, att, err := loader.OpenPinned(iface)
	if err != nil {
		return err
	}
	defer objs.Close()
	defer att.Link.Close()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "interface\t%s (driver %s)\n", iface, att.Driver)
	fmt.Fprintf(tw, "program\tid %d, XDP %s, pinned under %s\n", progID(objs), att.Mode, loader.PinDir(iface))
	var sinks []pipeline.SinkStats
	if st, err := readState(iface); err == nil && processAlive(st.PID) {
		fmt.Fprintf(tw, "daemon\tpid %d, up %s, http %s\n", st.PID, time.Since(st.Started).Round(time.Second), st.Listen)
		if ds, err := daemonStatus(iface); err != nil {
			fmt.Fprintf(tw, "daemon status\tunavailable: %v\n", err)
		} else {
			fmt.Fprintf(tw, "health\t%s\n", ds.Health)
			fmt.Fprintf(tw, "live captures\t%d running, %d copies sent to captures\n", ds.Captures, ds.CaptureCopies)
			sinks = ds.Sinks
		}
	} else {
		fmt.Fprintf(tw, "daemon\tnot running (program left attached: counting continues)\n")
	}
	n, err := objs.FlowCount()
	if err != nil {
		return err
	}
	size := objs.FlowTableSize()
	fmt.Fprintf(tw, "flow table\t%d of %d (%.1f%%)\n", n, size, 100*float64(n)/float64(size))
	reasons, flags, err := objs.Counters()
	if err != nil {
		return err
	}
	var lost, refused, ringLost, decapNot uint64
	for _, r := range reasons {
		switch r.Class {
		case flow.ClassLost:
			lost += r.Packets
		case flow.ClassRefused:
			refused += r.Packets
		}
	}
	for _, f := range flags {
		switch f.Class {
		case flow.ClassLost:
			ringLost += f.Packets
		case flow.ClassDecap:
			decapNot += f.Packets
		}
	}
	fmt.Fprintf(tw, "copies not accounted\t%d\n", lost)
	fmt.Fprintf(tw, "copies refused (untrusted source or VNI)\t%d\n", refused)
	fmt.Fprintf(tw, "ring buffer losses\t%d\n", ringLost)
	if decapNot > 0 {
		fmt.Fprintf(tw, "copies the decap feed did not deliver\t%d (decap_* flags)\n", decapNot)
	}
	src := objs.Sources()
	if allowed, err := src.List(); err == nil {
		if len(allowed) == 0 {
			fmt.Fprintf(tw, "allowed sources	none: every outer source is trusted\n")
		} else {
			fmt.Fprintf(tw, "allowed sources	%v\n", allowed)
		}
	}
	tw.Flush()
	if len(sinks) > 0 {
		fmt.Println()
		writeSinks(os.Stdout, sinks)
	}
	if offs, err := src.Offenders(statusOffenders); err == nil && len(offs) > 0 {
		fmt.Printf("\nrefused outer sources (busiest %d)\n", statusOffenders)
		ow := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(ow, "source\treason\tpackets\tbytes\t\n")
		for _, o := range offs {
			fmt.Fprintf(ow, "%s\t%s\t%d\t%d\t\n", o.Source, o.Reason, o.Packets, o.Bytes)
		}
		ow.Flush()
	}
	fmt.Println()
	if err := report.WriteCounters(os.Stdout, "reason", reasons); err != nil {
		return err
	}
	return report.WriteCounters(os.Stdout, "flag", flags)
}

// daemonStatus asks the running daemon through its local API.
func daemonStatus(iface string) (*api.Status, error) {
	cl, err := api.Dial(iface)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return cl.Status(ctx)
}

// writeSinks prints each output's queue: what it took, wrote, dropped,
// its errors and the last one.
func writeSinks(w io.Writer, sinks []pipeline.SinkStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "sink\tkind\tqueued\twritten\tdropped\terrors\tretries\twaiting\tlast error")
	for _, s := range sinks {
		last := "-"
		if s.LastError != "" {
			last = fmt.Sprintf("%s (%s ago)", s.LastError, time.Since(s.LastErrorTime).Round(time.Second))
		}
		name := s.Name
		if s.Durable {
			name += " (durable)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", name, s.Kind, s.Queued, s.Written, s.Dropped, s.Errors, s.Retries, s.Depth, last)
	}
	tw.Flush()
	for _, s := range sinks {
		if s.Detail != "" {
			fmt.Fprintf(w, "%s: %s\n", s.Name, s.Detail)
		}
	}
}

// statusOffenders is how many refused outer sources `vxtap status` lists.
const statusOffenders = 10

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	_, err := os.Stat(filepath.Join("/proc", fmt.Sprint(pid)))
	return err == nil
}
