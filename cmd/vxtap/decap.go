package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
)

// The decapsulated feed (--decap-to): the XDP program forwards the inner
// frame of every accepted copy to a local interface, for an IDS or tcpdump.
// Not a pipeline output: the frames never leave the kernel.

func decapFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "decap-to", Usage: "forward the inner frame of every accepted copy to IFACE, or to a veth pair vxtap creates and removes: create:NAME (tools read NAME)"},
		&cli.StringSliceFlag{Name: "decap-vni", Usage: "VNI=IFACE or VNI=create:NAME: this VNI's copies go there instead of --decap-to (repeatable)"},
		&cli.BoolFlag{Name: "decap-jumbo", Usage: "the --decap-to/--decap-vni interfaces take multi-buffer XDP frames: jumbo copies go whole (created veths always do)"},
	}
}

// decapTarget is one interface of the feed.
type decapTarget struct {
	vni    uint32 // loader.DecapDefault for --decap-to
	iface  string // the interface, or the NAME of create:NAME
	create bool
}

// decapPlan is the feed the flags ask for, checked before anything changes.
type decapPlan struct {
	owner   string // the mirror interface
	targets []decapTarget
	mtu     int // the mirror interface's, for created veths
}

// parseDecap checks the decap flags: names, VNIs, interfaces that must
// exist. A nil plan means no feed. It sets cfg's decap switches.
func parseDecap(c *cli.Context, cfg *loader.Config) (*decapPlan, error) {
	p := &decapPlan{owner: c.String("iface")}
	allCreated := true
	add := func(flag string, vni uint32, val string) error {
		t := decapTarget{vni: vni, iface: val}
		if name, ok := strings.CutPrefix(val, "create:"); ok {
			t.iface, t.create = name, true
			if err := loader.DecapVethName(name); err != nil {
				return fmt.Errorf("flag %s: %w", flag, err)
			}
			if _, err := net.InterfaceByName(name); err == nil && !loader.DecapLeftover(name, c.String("iface")) {
				return fmt.Errorf("flag %s: create:%s: an interface %s already exists", flag, name, name)
			}
		} else {
			allCreated = false
			if val == "" {
				return fmt.Errorf("flag %s: empty interface name", flag)
			}
			if _, err := net.InterfaceByName(val); err != nil {
				return fmt.Errorf("flag %s: interface %s: %w", flag, val, err)
			}
		}
		for _, o := range p.targets {
			if o.create && t.create && o.iface == t.iface {
				return fmt.Errorf("flag %s: create:%s given twice", flag, t.iface)
			}
		}
		p.targets = append(p.targets, t)
		return nil
	}
	if v := c.String("decap-to"); c.IsSet("decap-to") {
		if err := add("--decap-to", loader.DecapDefault, v); err != nil {
			return nil, cli.Exit(err.Error(), 2)
		}
	}
	seen := map[uint32]bool{}
	for _, m := range c.StringSlice("decap-vni") {
		k, v, ok := strings.Cut(m, "=")
		vni, err := strconv.ParseUint(strings.TrimSpace(k), 10, 32)
		if !ok || err != nil || vni >= 1<<24 {
			return nil, cli.Exit(fmt.Sprintf("flag --decap-vni: %q is not VNI=IFACE with a VNI below 16777216", m), 2)
		}
		if seen[uint32(vni)] {
			return nil, cli.Exit(fmt.Sprintf("flag --decap-vni: VNI %d given twice", vni), 2)
		}
		seen[uint32(vni)] = true
		if err := add("--decap-vni", uint32(vni), strings.TrimSpace(v)); err != nil {
			return nil, cli.Exit(err.Error(), 2)
		}
	}
	if len(p.targets) == 0 {
		if c.Bool("decap-jumbo") {
			return nil, cli.Exit("flag --decap-jumbo: needs --decap-to or --decap-vni", 2)
		}
		return nil, nil
	}
	if ifi, err := net.InterfaceByName(c.String("iface")); err == nil {
		p.mtu = ifi.MTU
	}
	cfg.Decap = true
	cfg.DecapFrags = c.Bool("decap-jumbo") || allCreated
	return p, nil
}

// open starts the feed on the loaded program: failure counters, created
// veths, targets. On an error what it made is undone.
func (p *decapPlan) open(objs *loader.Objects) (*loader.Decap, error) {
	if p == nil {
		return nil, nil
	}
	if !objs.DecapEnabled() {
		return nil, fmt.Errorf("--decap-to: the program carried over from the previous run was started without it; `vxtap detach --iface IFACE` and start again")
	}
	d, err := objs.OpenDecap(p.owner)
	if err != nil {
		return nil, err
	}
	for _, t := range p.targets {
		read, err := d.SetTarget(t.vni, t.iface, t.create, p.mtu)
		if err != nil {
			d.Close()
			return nil, err
		}
		ev := log.Info().Str("read", read).Bool("created", t.create)
		if t.vni != loader.DecapDefault {
			ev = ev.Uint32("vni", t.vni)
		}
		ev.Msg("decapsulated feed")
	}
	for _, n := range d.Replaced {
		log.Warn().Str("veth", n).Msg("decap veth pair left by a previous run (killed) replaced")
	}
	return d, nil
}
