package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/filter"
)

func init() { commands = append(commands, filterCommand()) }

// filterSourceFlags name the documents a rule set is read from.
func filterSourceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "aws-filters", Usage: "JSON printed by `aws ec2 describe-traffic-mirror-filters` (repeatable)"},
		&cli.StringSliceFlag{Name: "aws-sessions", Usage: "JSON printed by `aws ec2 describe-traffic-mirror-sessions` (repeatable)"},
	}
}

func filterCommand() *cli.Command {
	return &cli.Command{
		Name:  "filter",
		Usage: "check, explain and apply AWS Traffic Mirror filter rules",
		Subcommands: []*cli.Command{
			{
				Name:      "check",
				Usage:     "validate and compile a filter configuration; warn about rules that can never match",
				ArgsUsage: "[FILE]",
				Flags:     filterSourceFlags(),
				Action:    filterCheck,
			},
			{
				Name:  "explain",
				Usage: "tell which rule decides a packet and why, from the compiled tables",
				Flags: append(filterSourceFlags(),
					&cli.StringFlag{Name: "config", Usage: "vxtap filter configuration (YAML, or AWS CLI JSON)"},
					&cli.UintFlag{Name: "vni", Required: true, Usage: "VXLAN VNI of the copy"},
					&cli.StringFlag{Name: "src", Required: true, Usage: "inner source address"},
					&cli.StringFlag{Name: "dst", Required: true, Usage: "inner destination address"},
					&cli.StringFlag{Name: "proto", Value: "tcp", Usage: "inner protocol: tcp, udp, icmp, icmpv6 or an IANA number"},
					&cli.UintFlag{Name: "sport", Usage: "source port (TCP, UDP)"},
					&cli.UintFlag{Name: "dport", Usage: "destination port (TCP, UDP)"},
					&cli.StringFlag{Name: "outer-src", Usage: "outer source of the copy (the source ENI's primary address); tells the direction when the session lists no addresses"},
				),
				Action: filterExplain,
			},
			{
				Name:      "apply",
				Usage:     "install a rule set in the running (or left attached) program of an interface, atomically",
				ArgsUsage: "[FILE]",
				Flags: append(filterSourceFlags(),
					ifaceFlag(true, "interface vxtap runs on")),
				Action: filterApply,
			},
			{
				Name:  "hits",
				Usage: "per-rule hit counters of the rule set an interface runs",
				Flags: []cli.Flag{
					ifaceFlag(true, "interface vxtap runs on"),
					&cli.BoolFlag{Name: "json", Usage: "print JSON"},
				},
				Action: filterHits,
			},
		},
	}
}

// loadFilterConfig reads FILE (or --config) and the AWS documents, and
// prints the warnings.
func loadFilterConfig(c *cli.Context, file string) (*filter.Config, error) {
	aws, sess := c.StringSlice("aws-filters"), c.StringSlice("aws-sessions")
	if file == "" && len(aws) == 0 && len(sess) == 0 {
		return nil, cli.Exit("give a configuration FILE, --aws-filters or --aws-sessions", 2)
	}
	cfg, err := filter.Load(file, aws, sess)
	var list filter.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintf(os.Stderr, "error: %s\n", e)
		}
		return nil, cli.Exit(fmt.Sprintf("%d error(s)", len(list)), 1)
	}
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(os.Stderr, "warning: %s\n", w)
	}
	logIgnored(cfg)
	return cfg, nil
}

func filterCheck(c *cli.Context) error {
	cfg, err := loadFilterConfig(c, c.Args().First())
	if err != nil {
		return err
	}
	comp := filter.Compile(cfg)
	k := loader.CapacityFor(comp)
	rules := 0
	for _, f := range cfg.Filters {
		rules += len(f.Rules[0]) + len(f.Rules[1])
	}
	fmt.Printf("ok: %d session(s), %d filter(s), %d rule(s); compiled: %d ruleset(s), %d bitset(s), %d port block(s), %d IPv4 table node(s), %d IPv6 CIDR entries; %d warning(s)\n",
		len(cfg.Sessions), len(cfg.Filters), rules, k.Rulesets, k.Bitsets, k.Blocks, k.Nodes4, k.Prefix6, len(cfg.Warnings))
	return nil
}

func filterExplain(c *cli.Context) error {
	cfg, err := loadFilterConfig(c, c.String("config"))
	if err != nil {
		return err
	}
	p := filter.Packet{}
	if c.Uint("vni") > filter.MaxVNI {
		return cli.Exit(fmt.Sprintf("flag --vni: %d is not a 24-bit VNI", c.Uint("vni")), 2)
	}
	p.VNI = uint32(c.Uint("vni"))
	for _, a := range []struct {
		flag string
		dst  *netip.Addr
	}{{"src", &p.Src}, {"dst", &p.Dst}, {"outer-src", &p.OuterSrc}} {
		s := c.String(a.flag)
		if s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return cli.Exit(fmt.Sprintf("flag --%s: %q is not an IP address", a.flag, s), 2)
		}
		*a.dst = ip.Unmap()
	}
	if p.Src.Is4() != p.Dst.Is4() {
		return cli.Exit("flags --src and --dst: one is IPv4, the other IPv6", 2)
	}
	proto, err := parseProto(c.String("proto"))
	if err != nil {
		return cli.Exit("flag --proto: "+err.Error(), 2)
	}
	p.Proto = proto
	for _, f := range []struct {
		flag string
		dst  *uint16
	}{{"sport", &p.SrcPort}, {"dport", &p.DstPort}} {
		v := c.Uint(f.flag)
		if v > 65535 {
			return cli.Exit(fmt.Sprintf("flag --%s: %d is not a port", f.flag, v), 2)
		}
		if v != 0 && proto != 6 && proto != 17 {
			return cli.Exit(fmt.Sprintf("flag --%s: protocol %d has no ports (the kernel sees 0)", f.flag, proto), 2)
		}
		*f.dst = uint16(v)
	}
	fmt.Print(filter.Compile(cfg).Explain(p))
	return nil
}

// parseProto reads a protocol name or IANA number.
func parseProto(s string) (uint8, error) {
	switch strings.ToLower(s) {
	case "icmp":
		return 1, nil
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "icmpv6":
		return 58, nil
	case "sctp":
		return 132, nil
	}
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%q is neither tcp, udp, icmp, icmpv6, sctp nor a number 0..255", s)
	}
	return uint8(v), nil
}

func filterApply(c *cli.Context) error {
	cfg, err := loadFilterConfig(c, c.Args().First())
	if err != nil {
		return err
	}
	iface := c.String("iface")
	fm, err := loader.OpenPinnedFilterMaps(iface)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer fm.Close()
	if on, err := loader.PinnedFilterEnabled(iface); err == nil && !on {
		fmt.Fprintf(os.Stderr, "warning: the program on %s was loaded with the filter off: the rules are stored but not used until it runs with filters\n", iface)
	}
	comp := filter.Compile(cfg)
	if _, err := fm.Apply(comp); err != nil {
		return cli.Exit(fmt.Sprintf("apply to %s: %v", iface, err), 1)
	}
	gen, _ := fm.ActiveGen()
	k := loader.CapacityFor(comp)
	fmt.Printf("applied to %s: generation %d, %d session(s), %d ruleset(s), %d rule slot(s)\n", iface, gen, len(comp.Sessions)-1, k.Rulesets, k.Slots)
	return nil
}

func filterHits(c *cli.Context) error {
	iface := c.String("iface")
	fm, err := loader.OpenPinnedFilterMaps(iface)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer fm.Close()
	hits, err := fm.HitCounts()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(hits)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tFILTER\tDIR\tRULE\tACTION\tPACKETS\tBYTES\t")
	for _, h := range hits {
		rule, dir, name := "-", h.Dir.String(), h.Filter
		if h.Kind == loader.HitRule {
			rule = strconv.Itoa(h.Rule)
		}
		if h.Kind == loader.HitSession {
			dir, name = "-", fmt.Sprintf("vni %d", h.VNI)
			if h.Default {
				name = "default"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t\n", h.Kind, name, dir, rule, h.Action, h.Packets, h.Bytes)
	}
	return tw.Flush()
}

// logIgnored says at debug level which fields of the AWS documents were
// skipped (AWS adds fields over time; they are not errors).
func logIgnored(cfg *filter.Config) {
	for _, n := range cfg.Ignored {
		log.Debug().Msg(n.Error())
	}
}
