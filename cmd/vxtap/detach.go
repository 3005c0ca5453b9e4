package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/flow"
)

func init() { commands = append(commands, detachCommand()) }

func detachCommand() *cli.Command {
	return &cli.Command{
		Name:  "detach",
		Usage: "remove the XDP program and every pin of an interface",
		Description: "Flows a --keep-attached program counted but no daemon reported yet would be lost with the\n" +
			"maps: detach refuses then, saying how many, unless --force (which says what it discarded).\n" +
			"`vxtap run --iface IF` reports them, and a clean stop of it detaches.",
		Flags: []cli.Flag{
			ifaceFlag(true, "interface to detach from"),
			&cli.BoolFlag{Name: "force", Usage: "detach even if flows are not reported yet (they are lost)"},
		},
		Action: func(c *cli.Context) error {
			iface := c.String("iface")
			lock, err := lockInstance(iface)
			if err != nil {
				return fmt.Errorf("%w: stop that daemon instead", err)
			}
			defer lock.release()
			if !loader.Pinned(iface) {
				fmt.Printf("nothing attached to %s\n", iface)
				clearStale(iface)
				return errors.Join(loader.Detach(iface), removeDecapLeftovers(iface))
			}
			u, uerr := unreported(iface)
			switch {
			case uerr != nil && !c.Bool("force"):
				return cli.Exit(fmt.Sprintf("cannot tell whether %s holds unreported flows (%v): detach --force to detach anyway", iface, uerr), 1)
			case u.flows > 0 && !c.Bool("force"):
				return cli.Exit(fmt.Sprintf("%s: %s not reported yet; `vxtap run --iface %s` reports them (a clean stop then detaches), or detach --force discards them",
					iface, u, iface), 1)
			}
			if err := loader.Detach(iface); err != nil {
				return err
			}
			clearStale(iface)
			if err := removeDecapLeftovers(iface); err != nil {
				return err
			}
			switch {
			case uerr != nil:
				fmt.Printf("detached from %s (unreported flows unknown: %v)\n", iface, uerr)
			case u.flows > 0:
				fmt.Printf("detached from %s: discarded %s\n", iface, u)
			default:
				fmt.Printf("detached from %s (every flow was reported)\n", iface)
			}
			return nil
		},
	}
}

// clearStale removes the state file and API socket a killed daemon of
// iface left behind (the lock is held: none is running). Only a socket is
// removed at the socket's path: anything else there is not vxtap's.
func clearStale(iface string) {
	os.Remove(statePath(iface))
	if fi, err := os.Lstat(api.SocketPath(iface)); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(api.SocketPath(iface))
	}
}

// removeDecapLeftovers removes the --decap-to create:NAME pairs a killed
// daemon of iface left behind (the lock is held: none is running).
func removeDecapLeftovers(iface string) error {
	gone, err := loader.RemoveDecapLeftovers(iface)
	for _, n := range gone {
		fmt.Printf("removed the decap veth pair %s/%s%s a killed daemon left\n", n, n, loader.DecapPeerSuffix)
	}
	return err
}

// unreportedFlows is what the pinned table counted beyond what flow
// records already carried (the ledger).
type unreportedFlows struct {
	flows          int
	packets, bytes uint64
}

func (u unreportedFlows) String() string {
	return fmt.Sprintf("%d flow(s), %d packet(s), %d byte(s)", u.flows, u.packets, u.bytes)
}

// unreported compares the pinned flow table with the pinned ledger.
func unreported(iface string) (unreportedFlows, error) {
	var u unreportedFlows
	objs, att, err := loader.OpenPinned(iface)
	if err != nil {
		return u, err
	}
	defer objs.Close()
	att.Link.Close()
	reported := map[flow.Key][2]uint64{}
	if err := objs.Ledger().Load(func(k flow.Key, p, b uint64) { reported[k] = [2]uint64{p, b} }); err != nil {
		return u, err
	}
	// A flow a killed daemon detached (its last records maybe not stored)
	// counts with the newer flow of its key, as the next start merges them.
	counted := map[flow.Key][2]uint64{}
	add := func(k flow.Key, c flow.Counters) {
		v := counted[k]
		counted[k] = [2]uint64{v[0] + c.Packets, v[1] + c.Bytes}
	}
	if err := objs.Walk(add); err != nil {
		return u, err
	}
	if err := objs.WalkDetached(add); err != nil {
		return u, err
	}
	for k, c := range counted {
		r := reported[k]
		if c[0] > r[0] {
			u.flows++
			u.packets += c[0] - r[0]
			u.bytes += c[1] - min(c[1], r[1])
		}
	}
	return u, nil
}
