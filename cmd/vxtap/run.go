package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/metrics"
	"github.com/vxtap/vxtap/userspace/samples"
	"golang.org/x/sys/unix"
)

func init() { commands = append(commands, runCommand()) }

func runCommand() *cli.Command {
	def := loader.DefaultConfig()
	dd := daemon.DefaultConfig()
	return &cli.Command{
		Name:  "run",
		Usage: "attach the XDP program to a NIC and run the flow daemon",
		Flags: append([]cli.Flag{
			ifaceFlag(true, "mirror target interface"),
			&cli.StringFlag{Name: "xdp-mode", Value: loader.ModeAuto, Usage: "native, generic, or auto (native, else generic with a warning)"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:9781", Usage: "HTTP address for /healthz and /metrics (the NLB health check)"},
			&cli.StringFlag{Name: "flow-log", Usage: "append flow records (JSON lines) to this file instead of stdout"},
			&cli.BoolFlag{Name: "keep-attached", Usage: "on exit, leave the program attached and its maps pinned"},
			&cli.UintFlag{Name: "vxlan-port", Value: uint(def.VXLANPort), Usage: "outer UDP port of VXLAN"},
			&cli.UintFlag{Name: "geneve-port", Value: uint(def.GenevePort), Usage: "outer UDP port of GENEVE (Gateway Load Balancer), 0 = off"},
			&cli.BoolFlag{Name: "pass-mirror", Usage: "pass mirror copies to the kernel after accounting instead of dropping them"},
			&cli.UintFlag{Name: "sample-rate", Usage: "send 1 in N accounted packets to the sample stream, 0 = off"},
			&cli.StringFlag{Name: "sample-file", Usage: "write sampled inner frames to this pcapng file (one interface per VNI, VNI in each packet's comment)"},
			&cli.UintFlag{Name: "snap-len", Value: uint(def.SnapLen), Usage: "bytes of inner frame per sample (max 2048)"},
			&cli.UintFlag{Name: "flow-table-size", Value: uint(def.FlowTableSize), Usage: "flow table entries (~380 B of locked memory each; a full table refuses new flows, so size it to the peak within one idle timeout)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: dd.Aggregate.IdleTimeout, Usage: "flow idle timeout"},
			&cli.DurationFlag{Name: "active-timeout", Value: dd.Aggregate.ActiveTimeout, Usage: "flow active timeout"},
			&cli.DurationFlag{Name: "sweep-interval", Value: dd.SweepInterval, Usage: "flow table sweep interval"},
		}, filterRunFlags()...),
		Action: runDaemon,
	}
}

func runDaemon(c *cli.Context) error {
	log.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339,
		NoColor: !isTerminal(os.Stderr)}).With().Timestamp().Logger()
	iface := c.String("iface")
	cfg := loader.DefaultConfig()
	// Every flag is checked (and --listen bound, after the lock) before anything is attached.
	pre, err := validateRun(c, &cfg)
	if err != nil {
		return err
	}
	defer pre.close()
	cfg.PassMirror = c.Bool("pass-mirror")
	cfg.PinPath = loader.PinDir(iface)
	// A bad rule set fails here, before anything is attached.
	filters, err := setupFilter(c, &cfg)
	if err != nil {
		return err
	}

	lock, err := lockInstance(iface)
	if err != nil {
		return err
	}
	defer lock.release()
	if err := pre.listen(c); err != nil {
		return err
	}
	if err := checkBPFFS(); err != nil {
		return err
	}
	wasPinned := loader.Pinned(iface)
	objs, att, err := attachOrReopen(iface, c.String("xdp-mode"), cfg)
	if err != nil {
		return err
	}
	defer objs.Close()
	started := false
	defer func() { undoStart(started || wasPinned, iface, objs, att) }()
	// A predecessor killed while removing flows may have left slots out of
	// the index: put them back before the first sweep.
	if rec, err := objs.RecoverSlots(); err != nil {
		return err
	} else if rec.Republished+rec.Merged > 0 {
		log.Warn().Int("republished", rec.Republished).Int("merged", rec.Merged).
			Msg("flow slots a killed daemon left out of the index recovered")
	}
	keep := c.Bool("keep-attached")
	filterCtx, stopFilters := context.WithCancel(context.Background())
	defer stopFilters()
	// Rules from --config / --aws-*, and SIGHUP reloads from then on.
	if err := filters.start(filterCtx, objs, cfg.PinPath); err != nil {
		return err
	}

	out, closeOut, err := flowLog(c.String("flow-log"))
	if err != nil {
		return err
	}
	defer closeOut()
	events, err := objs.OpenEvents()
	if err != nil {
		return err
	}
	defer events.Close()

	dcfg := daemon.DefaultConfig()
	dcfg.SweepInterval = c.Duration("sweep-interval")
	dcfg.Aggregate.IdleTimeout, dcfg.Aggregate.ActiveTimeout = c.Duration("idle-timeout"), c.Duration("active-timeout")
	dcfg.Aggregate.TableSize = int(objs.FlowTableSize())
	progID := progID(objs)
	tracker := newRates(objs.FlowTableSize())
	d, err := daemon.New(dcfg, daemon.Sources{
		Flows: objs, Events: events, Counters: objs, Ledger: objs.Ledger(),
		Attached: func() bool { return loader.AttachedProgID(iface) == progID },
	}, out, tracker)
	if err != nil {
		return err
	}
	if path := c.String("sample-file"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
		if err != nil {
			return fmt.Errorf("flag --sample-file: %w", err)
		}
		defer f.Close()
		if d.Samples, err = samples.NewWriter(f, cfg.SnapLen); err != nil {
			return fmt.Errorf("flag --sample-file: %w", err)
		}
	}
	col := metrics.New(iface, objs, d, objs.FlowTableSize())
	col.SetConfiguredVNIs(filters.SessionVNIs)
	d.OnSweep = func(st aggregate.Stats) { col.SweepSeconds.Observe(st.Duration.Seconds()) }

	srv := &http.Server{Addr: c.String("listen"), Handler: metrics.Handler(d, col, version, filters.Collector(iface)), ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(pre.listener) }()

	st := runState{PID: os.Getpid(), Iface: iface, Started: time.Now(), Mode: att.Mode,
		Driver: att.Driver, ProgID: progID, Listen: c.String("listen")}
	local, err := startAPI(iface, tracker, objs, d, st)
	if err != nil {
		return err
	}
	defer local.stop()
	if err := writeState(st); err != nil {
		log.Warn().Err(err).Msg("write state file")
	}
	started = true
	log.Info().Str("iface", iface).Str("mode", att.Mode).Uint32("prog_id", progID).
		Str("listen", c.String("listen")).Msg("vxtap running")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	select {
	case err = <-runErr:
	case err = <-srvErr:
		stop()
		<-runErr
		err = fmt.Errorf("HTTP on %s: %w", c.String("listen"), err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(shutCtx)
	cancel()

	n, serr := d.Shutdown(!keep)
	log.Info().Int("records", n).Bool("keep_attached", keep).Msg("final sweep done")
	os.Remove(statePath(iface))
	if !keep {
		objs.Close()
		if derr := loader.Detach(iface); derr != nil {
			serr = errors.Join(serr, derr)
		}
	}
	return errors.Join(err, serr)
}

// attachOrReopen carries on with a program a previous run left attached
// (pinned), or loads and attaches a new one.
func attachOrReopen(iface, mode string, cfg loader.Config) (*loader.Objects, *loader.Attachment, error) {
	if loader.Pinned(iface) {
		objs, att, err := loader.OpenPinned(iface)
		if err == nil && loader.AttachedProgID(iface) == progID(objs) {
			log.Info().Str("iface", iface).Msg("re-opened the pinned program and maps: carrying on")
			return objs, att, nil
		}
		if err == nil {
			objs.Close()
			att.Link.Close()
			err = errors.New("its program is no longer attached")
		}
		log.Warn().Err(err).Msg("stale pins: removing them and starting afresh")
		if err := loader.Detach(iface); err != nil {
			return nil, nil, err
		}
	}
	objs, err := loader.Load(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (stale maps under %s? `vxtap detach --iface %s` removes them)", err, cfg.PinPath, iface)
	}
	att, err := objs.Attach(iface, mode)
	if err != nil {
		objs.Close()
		loader.Detach(iface)
		return nil, nil, err
	}
	if att.Fallback != nil {
		log.Warn().Err(att.Fallback).Msg("fell back to generic XDP (slower: every packet gets an skb first)")
	}
	return objs, att, nil
}

func progID(o *loader.Objects) uint32 {
	info, err := o.VxtapXdp.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return uint32(id)
}

// flowLog opens the record destination: a file to append to, or stdout.
func flowLog(path string) (io.Writer, func(), error) {
	if path == "" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("flag --flow-log: %w", err)
	}
	return f, func() { f.Sync(); f.Close() }, nil
}

// isTerminal tells a terminal from a file or pipe (colours only for people).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
