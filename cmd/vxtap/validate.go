package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"

	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/ifname"
)

// ifaceFlag is the --iface flag of every command: the name is checked
// before the command runs, since it becomes part of pin, lock, state and
// socket paths (a "../.." name once made detach delete a directory).
func ifaceFlag(required bool, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: "iface", Required: required, Usage: usage,
		Action: func(_ *cli.Context, v string) error { return checkIface(v) }}
}

func checkIface(name string) error {
	if err := ifname.Check(name); err != nil {
		return fmt.Errorf("flag --iface: %w", err)
	}
	return nil
}

// ifaceExists is `vxtap run`'s check: the interface is there, in this
// network namespace.
func ifaceExists(name string) error {
	if err := checkIface(name); err != nil {
		return err
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return fmt.Errorf("flag --iface: no such interface %q in this network namespace: %w", name, err)
	}
	return nil
}

// maxFlowTableSize bounds --flow-table-size: a flow index entry keeps its
// slot number (plus one) in 24 bits beside an 8-bit tag of the hash, so
// 1<<24 - 1 flows; at ~300 B of locked memory per flow that is ~5 GB, past
// what one appliance's NIC queues fill within an idle timeout.
const maxFlowTableSize = uint64(loader.MaxFlowTableSize)

// uintFlag range-checks an integer flag before it is narrowed: a value
// past the target type must be refused, not wrap (4294967296 once became
// 0 and "must be at least 1").
func uintFlag(c *cli.Context, name string, lo, hi uint64) (uint64, error) {
	v := uint64(c.Uint(name))
	if v < lo || v > hi {
		return 0, cli.Exit(fmt.Sprintf("flag --%s: %d is out of range %d..%d", name, v, lo, hi), 2)
	}
	return v, nil
}

// runPrecheck holds what `vxtap run` sets up before anything is
// attached: the HTTP listener.
type runPrecheck struct {
	listener net.Listener
}

// close releases what the daemon did not take over.
func (p *runPrecheck) close() {
	if p.listener != nil {
		p.listener.Close()
	}
}

// validateRun checks every flag of `vxtap run` and fills cfg, so that a
// bad flag fails before the program is attached: a failed start must
// leave the interface as it found it. --listen is bound by listen.
// That the interface exists is checked after the other flags of this
// function, so each gets its own error whatever the interface, and before
// any file or directory is made.
func validateRun(c *cli.Context, cfg *loader.Config) (*runPrecheck, error) {
	if err := checkIface(c.String("iface")); err != nil {
		return nil, err
	}
	if err := positiveDurations(c, "idle-timeout", "active-timeout", "sweep-interval", "shutdown-wait"); err != nil {
		return nil, err
	}
	switch m := c.String("xdp-mode"); m {
	case loader.ModeNative, loader.ModeGeneric, loader.ModeAuto:
	default:
		return nil, cli.Exit(fmt.Sprintf("flag --xdp-mode: %q is not native, generic or auto", m), 2)
	}
	if err := portFlag(c, "vxlan-port", &cfg.VXLANPort, false); err != nil {
		return nil, err
	}
	if err := portFlag(c, "geneve-port", &cfg.GenevePort, true); err != nil {
		return nil, err
	}
	if cfg.VXLANPort == cfg.GenevePort {
		return nil, cli.Exit(fmt.Sprintf("flags --vxlan-port and --geneve-port: both are %d", cfg.VXLANPort), 2)
	}
	rate, err := uintFlag(c, "sample-rate", 0, math.MaxUint32)
	if err != nil {
		return nil, err
	}
	snap, err := uintFlag(c, "snap-len", 1, 2048)
	if err != nil {
		return nil, err
	}
	size, err := uintFlag(c, "flow-table-size", 1, maxFlowTableSize)
	if err != nil {
		return nil, err
	}
	cfg.SampleRate, cfg.SnapLen, cfg.FlowTableSize = uint32(rate), uint32(snap), uint32(size)
	if err := ifaceExists(c.String("iface")); err != nil {
		return nil, err
	}
	if err := probeWritable("flow-log", c.String("flow-log")); err != nil {
		return nil, err
	}
	if err := probeWritable("sample-file", c.String("sample-file")); err != nil {
		return nil, err
	}
	return &runPrecheck{}, nil
}

// listen binds --listen, after the instance lock (a second instance is
// told who runs, not that the port is taken) and before attaching.
func (p *runPrecheck) listen(c *cli.Context) error {
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Exit(fmt.Sprintf("flag --listen: %v", err), 2)
	}
	p.listener = ln
	return nil
}

// probeWritable opens path for writing as the daemon will, without
// truncating it; a file the probe created is removed again, so a refused
// start changes nothing.
func probeWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	created := false
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err == nil {
		created = true
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("flag --%s: %v", flag, err), 2)
	}
	f.Close()
	if created {
		os.Remove(path)
	}
	return nil
}

// undoStart detaches a program this run attached when the start failed
// before the daemon ran (keep: it ran, or a previous run left it), so
// nothing is left dropping mirror copies with no daemon accounting them.
func undoStart(keep bool, iface string, objs *loader.Objects, att *loader.Attachment) {
	if keep {
		return
	}
	objs.Close()
	if att.Link != nil {
		att.Link.Close()
	}
	if err := loader.Detach(iface); err != nil {
		log.Warn().Err(err).Str("iface", iface).Msg("detach after a failed start")
	}
}
