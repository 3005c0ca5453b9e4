package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/aggregate"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/memtune"
	"github.com/vxtap/vxtap/userspace/metrics"
	"github.com/vxtap/vxtap/userspace/pipeline"
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
			&cli.StringFlag{Name: "instance", Usage: "this appliance's identity in every record batch (default: the hostname)"},
			&cli.StringFlag{Name: "state-dir", Usage: "directory of this daemon instance's state: batch sequence, output spools (default /var/lib/vxtap/<iface>)"},
			&cli.BoolFlag{Name: "keep-attached", Usage: "on exit, leave the program attached and its maps pinned"},
			&cli.UintFlag{Name: "vxlan-port", Value: uint(def.VXLANPort), Usage: "outer UDP port of VXLAN"},
			&cli.UintFlag{Name: "geneve-port", Value: uint(def.GenevePort), Usage: "outer UDP port of GENEVE (Gateway Load Balancer), 0 = off"},
			&cli.BoolFlag{Name: "pass-mirror", Usage: "pass mirror copies to the kernel after accounting instead of dropping them"},
			&cli.UintFlag{Name: "sample-rate", Usage: "send 1 in N accounted packets to the sample stream, 0 = off"},
			&cli.UintFlag{Name: "snap-len", Value: uint(def.SnapLen), Usage: "bytes of inner frame per sample (max 2048)"},
			&cli.UintFlag{Name: "flow-table-size", Value: uint(def.FlowTableSize), Usage: "flow table entries (~380 B of locked memory each; a full table refuses new flows, so size it to the peak within one idle timeout)"},
			&cli.DurationFlag{Name: "idle-timeout", Value: dd.Aggregate.IdleTimeout, Usage: "flow idle timeout"},
			&cli.DurationFlag{Name: "active-timeout", Value: dd.Aggregate.ActiveTimeout, Usage: "flow active timeout"},
			&cli.DurationFlag{Name: "sweep-interval", Value: dd.SweepInterval, Usage: "flow table sweep interval"},
			&cli.DurationFlag{Name: "shutdown-wait", Value: time.Minute, Usage: "at a stop, how long the outputs may take to store the last records (a million flows take seconds) before the program is left attached for the next run"},
		}, append(append(filterRunFlags(), decapFlags()...), outputFlags()...)...),
		Action: runDaemon,
	}
}

func runDaemon(c *cli.Context) error {
	log.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339,
		NoColor: !isTerminal(os.Stderr)}).With().Timestamp().Logger()
	iface := c.String("iface")
	memtune.Apply()
	cfg := loader.DefaultConfig()
	// Every flag is checked (and --listen bound, after the lock) before anything is attached.
	// Flags the configuration file sets (run:) count as given, unless
	// the command line gives them.
	if err := applyConfigFlags(c, c.String("config")); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	pre, err := validateRun(c, &cfg)
	if err != nil {
		return err
	}
	defer pre.close()
	cfg.PassMirror = c.Bool("pass-mirror")
	cfg.PinPath = loader.PinDir(iface)
	decap, err := parseDecap(c, &cfg)
	if err != nil {
		return err
	}
	// A bad rule set fails here, before anything is attached.
	filters, err := setupFilter(c, &cfg)
	if err != nil {
		return err
	}
	// One daemon per interface: the lock comes before outputs open files
	// (a refused second instance must not truncate the first one's).
	lock, err := lockInstance(iface)
	if err != nil {
		return err
	}
	defer lock.release()
	if err := pre.listen(c); err != nil {
		return err
	}
	env, err := outputEnvFor(c, iface)
	if err != nil {
		return err
	}
	env.Sessions = filters.Sessions()
	seq, err := pipeline.OpenSeq(env.StateDir)
	if err != nil {
		return err
	}
	// Every output is built (files opened, flags checked) before anything
	// is attached: a bad output flag leaves the interface as it was.
	outs, err := buildOutputs(c, env)
	if err != nil {
		return err
	}
	built := true
	defer func() {
		if built { // never handed to a daemon
			closeOutputs(outs)
		}
	}()

	detectLoad(&cfg) // the threat check and its trie, when threat lists are configured
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
	// the index: put them back (or, wholly recorded, free them and forget
	// their ledger entries) before the first sweep and the ledger's load.
	if rec, err := objs.RecoverSlots(); err != nil {
		return err
	} else if rec.Republished+rec.Merged+rec.Freed+rec.StaleLocks+rec.Deferred > 0 {
		log.Warn().Int("republished", rec.Republished).Int("merged", rec.Merged).Int("freed", rec.Freed).Int("stale_locks", rec.StaleLocks).
			Int("deferred", rec.Deferred).
			Msg("flow slots a killed daemon left out of the index recovered")
	} else if rec.Alone > 0 {
		log.Debug().Int("buckets", rec.Alone).Msg("flow index buckets with no key in the next bucket marked so: lookups there read one bucket")
	}
	// The decap feed stops (and its veths go) with the daemon.
	feed, err := decap.open(objs)
	if err != nil {
		return err
	}
	if feed != nil {
		defer feed.Close()
	}
	keep := c.Bool("keep-attached")
	filterCtx, stopFilters := context.WithCancel(context.Background())
	defer stopFilters()
	// Rules from --config / --aws-*, and SIGHUP reloads from then on.
	if err := filters.start(filterCtx, objs, cfg.PinPath); err != nil {
		return err
	}
	detectAttach(objs)

	events, err := objs.OpenEvents()
	if err != nil {
		return err
	}
	defer events.Close()

	dcfg := daemon.DefaultConfig()
	dcfg.SweepInterval = c.Duration("sweep-interval")
	dcfg.ShutdownWait = c.Duration("shutdown-wait")
	dcfg.Aggregate.IdleTimeout, dcfg.Aggregate.ActiveTimeout = c.Duration("idle-timeout"), c.Duration("active-timeout")
	dcfg.Aggregate.TableSize = int(objs.FlowTableSize())
	progID := progID(objs)
	dcfg.Instance, dcfg.Seq, dcfg.Enrich = env.Instance, seq, env.Sessions
	caps, err := newCaptures(objs, env.Sessions) // vxtap capture: capture_daemon.go
	if err != nil {
		return err
	}
	dcfg.Captures = caps.hub.Route
	tracker := newRates(objs.FlowTableSize())
	outs.Observers = append(outs.Observers, tracker)
	built = false
	d, err := daemon.New(dcfg, daemon.Sources{
		Flows: objs, Events: events, Counters: objs, Ledger: objs.Ledger(),
		Attached: func() bool { return loader.AttachedProgID(iface) == progID },
	}, outs)
	if err != nil {
		closeOutputs(outs)
		return err
	}
	defer d.Close()
	col := metrics.New(iface, objs, metricsSource{d}, objs.FlowTableSize())
	col.SetConfiguredVNIs(filters.SessionVNIs)
	col.Offenders = objs.Sources()
	d.OnSweep = func(st aggregate.Stats) { col.SweepSeconds.Observe(st.Duration.Seconds()) }

	srv := &http.Server{Addr: c.String("listen"), Handler: metrics.Handler(metricsSource{d}, col, version, withClickhouse(withDetect(filters.Collector(iface))...)...), ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(pre.listener) }()

	// SIGINT and SIGTERM are caught before anything says the daemon is up
	// (the API socket, the state file, "vxtap running"): a stop sent as
	// soon as it looks up runs the final sweep, where the default action
	// killed it, its records and pins left behind.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st := runState{PID: os.Getpid(), Iface: iface, Started: time.Now(), Mode: att.Mode,
		Driver: att.Driver, ProgID: progID, Listen: c.String("listen")}
	local, err := startAPI(iface, tracker, objs, d, st, env.Sessions, caps)
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
	local.stop() // before the maps close: live captures end cleanly

	n, serr := d.Shutdown(!keep)
	log.Info().Int("records", n).Bool("keep_attached", keep).Msg("final sweep done")
	os.Remove(statePath(iface))
	if d.Unsettled() && !keep {
		// Detaching would drop the flow table with records no durable
		// output stored: keep counting; the next start writes them.
		log.Error().Err(serr).Msg("flow records not stored: leaving the program attached and pinned; the next vxtap run writes them (vxtap detach discards them)")
		keep = true
	}
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

func progID(o *loader.Objects) uint32 { return o.ProgID() }

// outputEnvFor reads --instance and --state-dir, creating the state
// directory.
func outputEnvFor(c *cli.Context, iface string) (outputEnv, error) {
	env := outputEnv{Iface: iface, Instance: c.String("instance"), StateDir: c.String("state-dir")}
	if env.Instance == "" {
		h, err := os.Hostname()
		if err != nil {
			return env, fmt.Errorf("flag --instance: no hostname to default to: %w", err)
		}
		env.Instance = h
	}
	if env.StateDir == "" {
		env.StateDir = filepath.Join(stateRoot, iface)
	}
	if err := os.MkdirAll(env.StateDir, 0o750); err != nil {
		return env, fmt.Errorf("flag --state-dir: %w", err)
	}
	return env, nil
}

// stateRoot holds each interface's state directory ($VXTAP_STATE_DIR
// overrides it, for containers and tests).
var stateRoot = func() string {
	if v := os.Getenv("VXTAP_STATE_DIR"); v != "" {
		return v
	}
	return "/var/lib/vxtap"
}()

// isTerminal tells a terminal from a file or pipe (colours only for people).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
