package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vxtap/vxtap/loader/livebench"
)

// labFlags are the flags run and lossless share: the lab, the traffic,
// the receivers, the modes and the CPUs.
type labFlags struct {
	s                                 settings
	prefix, receivers, modes, csvPath string
	flows, newEvery, vnis, batch      uint
}

func addLabFlags(fs *flag.FlagSet, csvDefault string) *labFlags {
	f := &labFlags{s: settings{gen: livebench.DefaultGenConfig()}}
	s := &f.s
	fs.StringVar(&f.prefix, "prefix", envOr("VXTAP_LAB_PREFIX", "vxbench"), "lab prefix (namespaces <p>-gen, <p>-rx; at most 8 characters)")
	fs.StringVar(&s.vxtap, "vxtap", "bin/vxtap", "the vxtap binary")
	fs.StringVar(&s.runDir, "run-dir", envOr("VXTAP_RUN_DIR", "/run/vxtap-bench"), "VXTAP_RUN_DIR for vxtap run")
	fs.StringVar(&s.pinRoot, "pin-root", envOr("VXTAP_PIN_ROOT", "/sys/fs/bpf/vxtap-bench"), "VXTAP_PIN_ROOT for vxtap run")
	var names []string
	for _, r := range receiverSpecs {
		names = append(names, "\n  "+r.name+": "+r.about)
	}
	fs.StringVar(&f.receivers, "receivers", "all", "comma-separated receivers, or all:"+strings.Join(names, ""))
	fs.StringVar(&f.modes, "modes", modeOneCore+","+modeOwnCore, "CPU modes: "+modeOneCore+" (generator and XDP on one CPU), "+modeOwnCore+" (XDP in a threaded NAPI on its own CPU)")
	fs.Uint64Var(&s.frames, "frames", 5_000_000, "frames offered per run")
	fs.Uint64Var(&s.floodFrames, "flood-frames", 1_000_000, "frames (each a new flow) offered to vxtap-newflows")
	fs.IntVar(&s.gen.FrameLen, "frame-len", s.gen.FrameLen, fmt.Sprintf("bytes per frame, outer Ethernet included (%d..%d)", livebench.MinFrameLen, livebench.MaxFrameLen))
	fs.UintVar(&f.flows, "flows", uint(s.gen.Flows), "inner flows the frames cycle through")
	fs.UintVar(&f.newEvery, "new-every", 0, "1 in N frames opens a new flow (0: none)")
	fs.UintVar(&f.vnis, "vnis", uint(s.gen.VNIs), "VNIs (mirror sessions) the flows are spread over")
	fs.UintVar(&f.batch, "batch", uint(s.gen.Batch), "live-frame batch size (1..256)")
	fs.IntVar(&s.genCPU, "gen-cpu", 1, "CPU of the generator (and, in one-core mode, of XDP)")
	fs.IntVar(&s.xdpCPU, "xdp-cpu", 0, "CPU of the threaded NAPI in own-core mode")
	fs.IntVar(&s.appCPU, "app-cpu", 0, "CPU of userspace receivers (vxtap run, tcpdump, softflowd); -1: any")
	fs.BoolVar(&s.bpfStats, "bpf-stats", false, "measure in-kernel ns per packet (kernel.bpf_stats_enabled: adds two clock reads per packet)")
	fs.StringVar(&f.csvPath, "csv", csvDefault, "CSV of every run (appended)")
	fs.StringVar(&s.work, "work", "", "scratch directory (default: a new one under $TMPDIR, removed at the end)")
	return f
}

// check validates the parsed flags and resolves receivers and modes.
func (f *labFlags) check() ([]receiverSpec, []string, error) {
	s := &f.s
	s.gen.Flows, s.gen.NewEvery, s.gen.VNIs, s.gen.Batch = uint32(f.flows), uint32(f.newEvery), uint32(f.vnis), uint32(f.batch)
	specs, err := pickReceivers(f.receivers)
	if err != nil {
		return nil, nil, err
	}
	modes := strings.Split(f.modes, ",")
	for _, m := range modes {
		if m != modeOneCore && m != modeOwnCore {
			return nil, nil, fmt.Errorf("flag --modes: unknown mode %q (%s or %s)", m, modeOneCore, modeOwnCore)
		}
	}
	switch {
	case s.frames < 1 || s.floodFrames < 1:
		return nil, nil, errors.New("flags --frames, --flood-frames: at least 1")
	case f.flows < 1 || f.flows > 1<<32-1:
		return nil, nil, fmt.Errorf("flag --flows: %d out of range 1..%d", f.flows, uint32(1<<32-1))
	case f.vnis < 1 || f.vnis > 1<<24-100:
		return nil, nil, fmt.Errorf("flag --vnis: %d out of range 1..%d", f.vnis, 1<<24-100)
	case f.batch < 1 || f.batch > 256:
		return nil, nil, fmt.Errorf("flag --batch: %d out of range 1..256", f.batch)
	}
	if _, err := livebench.Template(s.gen.FrameLen, livebench.VXLANPort); err != nil {
		return nil, nil, fmt.Errorf("flag --frame-len: %w", err)
	}
	return specs, modes, nil
}

// session is what a measuring command holds while it runs: the lab, the
// CSV, the scratch directory; close removes all of it.
type session struct {
	lab     *livebench.Lab
	out     *csvOut
	stop    chan os.Signal
	cleanup []func()
}

func (x *session) close() {
	for i := len(x.cleanup) - 1; i >= 0; i-- {
		x.cleanup[i]()
	}
}

// stopped is the signal that asked the run to end, if any.
func (x *session) stopped() os.Signal {
	select {
	case sig := <-x.stop:
		return sig
	default:
		return nil
	}
}

// open builds the lab and opens the CSV. A signal then ends the run
// between two measurements (see stopped), and close removes everything.
func (f *labFlags) open() (*session, error) {
	s := &f.s
	x := &session{}
	if s.work == "" {
		dir, err := os.MkdirTemp("", "benchlive-")
		if err != nil {
			return nil, err
		}
		s.work = dir
		x.cleanup = append(x.cleanup, func() { os.RemoveAll(dir) })
	}
	// vxtap run makes these; leave none behind (Remove only takes empty ones).
	x.cleanup = append(x.cleanup, func() { os.Remove(s.runDir); os.Remove(s.pinRoot) })
	out, err := openCSV(f.csvPath)
	if err != nil {
		x.close()
		return nil, err
	}
	x.out = out
	x.cleanup = append(x.cleanup, func() { out.Close() })
	if s.bpfStats {
		c, err := livebench.EnableStats()
		if err != nil {
			x.close()
			return nil, err
		}
		x.cleanup = append(x.cleanup, func() { c.Close() })
	}
	if x.lab, err = livebench.NewLab(f.prefix, max(1500, s.gen.FrameLen-14)); err != nil {
		x.close()
		return nil, err
	}
	x.cleanup = append(x.cleanup, func() { x.lab.Close() })
	x.stop = make(chan os.Signal, 1)
	signal.Notify(x.stop, syscall.SIGINT, syscall.SIGTERM)
	x.cleanup = append(x.cleanup, func() { signal.Stop(x.stop) })
	return x, nil
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	f := addLabFlags(fs, "bench-live.csv")
	var reps int
	var pace float64
	fs.IntVar(&reps, "reps", 5, "repetitions of every receiver in every mode (interleaved)")
	fs.Float64Var(&pace, "rate", 0, "offered rate in Mpps (0: as fast as the generator goes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	specs, modeList, err := f.check()
	if err != nil {
		return err
	}
	if reps < 1 || pace < 0 {
		return errors.New("flags --reps: at least 1; --rate: not negative")
	}
	s := &f.s
	s.pace = pace * 1e6
	x, err := f.open()
	if err != nil {
		return err
	}
	defer x.close()

	total := reps * len(modeList) * len(specs)
	fmt.Fprintf(os.Stderr, "benchlive: %d runs, %d frames of %d bytes, %d flows, lab %s\n", total, s.frames, s.gen.FrameLen, s.gen.Flows, f.prefix)
	n := 0
	// Interleaved: every receiver once in every mode, then again.
	for rep := 1; rep <= reps; rep++ {
		for _, mode := range modeList {
			for _, spec := range specs {
				if sig := x.stopped(); sig != nil {
					return fmt.Errorf("stopped by %v after %d of %d runs", sig, n, total)
				}
				n++
				res, err := runOne(s, x.lab, spec, mode, rep)
				if err != nil {
					return fmt.Errorf("run %d (%s, %s, rep %d): %w", n, spec.name, mode, rep, err)
				}
				if err := x.out.write(res); err != nil {
					return err
				}
				logResult(fmt.Sprintf("%3d/%d", n, total), res)
			}
		}
	}
	return nil
}

// logResult prints one run on stderr.
func logResult(tag string, res result) {
	fmt.Fprintf(os.Stderr, "%s %-8s %-15s offered %9d received %9d accounted %9d exact=%-5v %6.2f Mpps  %s\n",
		tag, res.Mode, res.Receiver, res.Offered, res.Received, res.Accounted, res.Exact, res.Mpps, res.Note)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
