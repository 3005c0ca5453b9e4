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

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	s := settings{gen: livebench.DefaultGenConfig()}
	var prefix, receivers, modes, csvPath string
	var reps int
	var flows, newEvery, vnis, batch uint
	fs.StringVar(&prefix, "prefix", envOr("VXTAP_LAB_PREFIX", "vxbench"), "lab prefix (namespaces <p>-gen, <p>-rx; at most 8 characters)")
	fs.StringVar(&s.vxtap, "vxtap", "bin/vxtap", "the vxtap binary")
	fs.StringVar(&s.runDir, "run-dir", envOr("VXTAP_RUN_DIR", "/run/vxtap-bench"), "VXTAP_RUN_DIR for vxtap run")
	fs.StringVar(&s.pinRoot, "pin-root", envOr("VXTAP_PIN_ROOT", "/sys/fs/bpf/vxtap-bench"), "VXTAP_PIN_ROOT for vxtap run")
	fs.StringVar(&receivers, "receivers", "all", "comma-separated receivers, or all")
	fs.StringVar(&modes, "modes", modeOneCore+","+modeOwnCore, "CPU modes: "+modeOneCore+" (generator and XDP on one CPU), "+modeOwnCore+" (XDP in a threaded NAPI on its own CPU)")
	fs.IntVar(&reps, "reps", 5, "repetitions of every receiver in every mode (interleaved)")
	fs.Uint64Var(&s.frames, "frames", 5_000_000, "frames offered per run")
	fs.Uint64Var(&s.floodFrames, "flood-frames", 1_000_000, "frames (each a new flow) offered to vxtap-newflows")
	fs.IntVar(&s.gen.FrameLen, "frame-len", s.gen.FrameLen, fmt.Sprintf("bytes per frame, outer Ethernet included (%d..%d)", livebench.MinFrameLen, livebench.MaxFrameLen))
	fs.UintVar(&flows, "flows", uint(s.gen.Flows), "inner flows the frames cycle through")
	fs.UintVar(&newEvery, "new-every", 0, "1 in N frames opens a new flow (0: none)")
	fs.UintVar(&vnis, "vnis", uint(s.gen.VNIs), "VNIs (mirror sessions) the flows are spread over")
	fs.UintVar(&batch, "batch", uint(s.gen.Batch), "live-frame batch size (1..256)")
	fs.IntVar(&s.genCPU, "gen-cpu", 1, "CPU of the generator (and, in one-core mode, of XDP)")
	fs.IntVar(&s.xdpCPU, "xdp-cpu", 0, "CPU of the threaded NAPI in own-core mode")
	fs.IntVar(&s.appCPU, "app-cpu", 0, "CPU of userspace receivers (vxtap run, tcpdump, softflowd); -1: any")
	fs.BoolVar(&s.bpfStats, "bpf-stats", false, "measure in-kernel ns per packet (kernel.bpf_stats_enabled: adds two clock reads per packet)")
	fs.StringVar(&csvPath, "csv", "bench-live.csv", "CSV of every run (appended)")
	fs.StringVar(&s.work, "work", "", "scratch directory (default: a new one under $TMPDIR, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s.gen.Flows, s.gen.NewEvery, s.gen.VNIs, s.gen.Batch = uint32(flows), uint32(newEvery), uint32(vnis), uint32(batch)
	specs, err := pickReceivers(receivers)
	if err != nil {
		return err
	}
	modeList := strings.Split(modes, ",")
	for _, m := range modeList {
		if m != modeOneCore && m != modeOwnCore {
			return fmt.Errorf("flag --modes: unknown mode %q (%s or %s)", m, modeOneCore, modeOwnCore)
		}
	}
	switch {
	case reps < 1:
		return errors.New("flag --reps: at least 1")
	case s.frames < 1 || s.floodFrames < 1:
		return errors.New("flags --frames, --flood-frames: at least 1")
	}
	if _, err := livebench.Template(s.gen.FrameLen); err != nil {
		return fmt.Errorf("flag --frame-len: %w", err)
	}
	if s.work == "" {
		if s.work, err = os.MkdirTemp("", "benchlive-"); err != nil {
			return err
		}
		defer os.RemoveAll(s.work)
	}
	// vxtap run makes these; leave none behind (Remove only takes empty ones).
	defer os.Remove(s.runDir)
	defer os.Remove(s.pinRoot)
	out, err := openCSV(csvPath)
	if err != nil {
		return err
	}
	defer out.Close()
	if s.bpfStats {
		c, err := livebench.EnableStats()
		if err != nil {
			return err
		}
		defer c.Close()
	}

	lab, err := livebench.NewLab(prefix, max(1500, s.gen.FrameLen-14))
	if err != nil {
		return err
	}
	defer lab.Close()
	// A signal ends the run between two measurements; the deferred
	// cleanups remove the lab.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)

	total := reps * len(modeList) * len(specs)
	fmt.Fprintf(os.Stderr, "benchlive: %d runs, %d frames of %d bytes, %d flows, lab %s\n", total, s.frames, s.gen.FrameLen, s.gen.Flows, prefix)
	n := 0
	// Interleaved: every receiver once in every mode, then again.
	for rep := 1; rep <= reps; rep++ {
		for _, mode := range modeList {
			for _, spec := range specs {
				select {
				case sig := <-stop:
					return fmt.Errorf("stopped by %v after %d of %d runs", sig, n, total)
				default:
				}
				n++
				res, err := runOne(&s, lab, spec, mode, rep)
				if err != nil {
					return fmt.Errorf("run %d (%s, %s, rep %d): %w", n, spec.name, mode, rep, err)
				}
				if err := out.write(res); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%3d/%d %-8s %-15s offered %9d received %9d accounted %9d exact=%-5v %6.2f Mpps  %s\n",
					n, total, mode, spec.name, res.Offered, res.Received, res.Accounted, res.Exact, res.Mpps, res.Note)
			}
		}
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
