package main

import (
	"fmt"
	"time"

	"github.com/vxtap/vxtap/loader/livebench"
)

// settings is one benchmark run's configuration (the flags).
type settings struct {
	vxtap                  string // the vxtap binary
	work                   string // scratch directory for logs, flow logs, captures
	runDir, pinRoot        string // vxtap run's lock/socket directory and pin root
	gen                    livebench.GenConfig
	frames, floodFrames    uint64
	pace                   float64 // offered rate in frames per second, 0 = as fast as the generator goes
	genCPU, xdpCPU, appCPU int
	bpfStats               bool
}

// Modes: where the receiver's XDP runs.
const (
	modeOneCore = "one-core" // generator and XDP share a CPU (NAPI in softirq)
	modeOwnCore = "own-core" // XDP in a threaded NAPI pinned to a CPU of its own
)

// result is one measured run: a row of the CSV.
type result struct {
	Mode      string  `json:"mode"`
	Receiver  string  `json:"receiver"`
	Rep       int     `json:"rep"`
	Pace      float64 `json:"pace_mpps"`  // offered rate the generator was paced to, 0 = full rate
	Offered   uint64  `json:"offered"`    // frames the generator transmitted
	Received  uint64  `json:"received"`   // frames the receiving veth ran (rx_queue_*_xdp_packets)
	Accounted uint64  `json:"accounted"`  // packets the receiver accounted
	Lost      uint64  `json:"lost"`       // packets the receiver says it dropped
	Exact     bool    `json:"exact"`      // accounted == received
	Seconds   float64 `json:"seconds"`    // generator's wall time
	Mpps      float64 `json:"mpps"`       // accounted / seconds
	RxMpps    float64 `json:"rx_mpps"`    // received / seconds
	CPUBusy   float64 `json:"cpu_busy_s"` // all CPUs' non-idle seconds while the generator ran
	CPUProc   float64 `json:"cpu_proc_s"` // the receiver's userspace process, whole run
	NsPerPkt  float64 `json:"ns_per_pkt"` // in-kernel ns per packet of its XDP program (bpf_stats), 0 if off
	Note      string  `json:"note"`
}

// runOne measures one receiver in one mode.
func runOne(s *settings, l *livebench.Lab, spec receiverSpec, mode string, rep int) (res result, err error) {
	res = result{Mode: mode, Receiver: spec.name, Rep: rep, Pace: s.pace / 1e6}
	gcfg, frames := s.gen, s.frames
	if spec.flood {
		gcfg.NewEvery, frames = 1, s.floodFrames
	}
	if s.pace > 0 {
		gcfg.GapNs = uint64(1e9 / s.pace)
	}
	g, err := livebench.NewGenerator(gcfg)
	if err != nil {
		return res, err
	}
	defer g.Close()
	if err := l.SetThreaded(mode == modeOwnCore); err != nil {
		return res, err
	}
	r := spec.make(s)
	if err := r.start(l); err != nil {
		return res, fmt.Errorf("%s: %w", spec.name, err)
	}
	finished := false
	defer func() {
		if !finished {
			r.finish(l)
		}
	}()
	if mode == modeOwnCore {
		if n, err := l.PinNapiThreads(s.xdpCPU); err != nil || n == 0 {
			return res, fmt.Errorf("pin napi thread of %s: found %d: %v", l.RxIf, n, err)
		}
	}
	progID, err := l.AttachedProgID()
	if err != nil {
		return res, err
	}
	stats := func() livebench.ProgStats {
		if !s.bpfStats || progID == 0 {
			return livebench.ProgStats{}
		}
		st, _ := livebench.StatsByID(progID)
		return st
	}

	rx0, err := l.RxXDPPackets()
	if err != nil {
		return res, err
	}
	st0 := stats()
	busy0, _ := busySeconds()
	var elapsed time.Duration
	err = livebench.InNetns(livebench.NSPath(l.GenNS), s.genCPU, func() (err error) {
		res.Offered, elapsed, err = g.Run(l.GenIndex, frames)
		return err
	})
	if err != nil {
		return res, err
	}
	busy1, _ := busySeconds()
	st1 := stats()
	rx1, err := settledRx(l)
	if err != nil {
		return res, err
	}
	filled := false
	if tf, ok := r.(tailFlusher); ok && tf.flushTail() {
		if err := sendFiller(s, l); err != nil {
			return res, err
		}
		filled = true
	}
	finished = true
	acc, err := r.finish(l)
	if err != nil {
		return res, fmt.Errorf("%s: %w", spec.name, err)
	}
	if !filled {
		// Read again once the receiver has stopped: a NAPI thread starved
		// longer than settledRx waits ran the rest of its ring after the
		// first reading (accounted = received + 256 once more, own-core).
		// Its program was attached until now, and frames after its
		// detach run no XDP, so the count is what it could have seen.
		if rx2, err := l.RxXDPPackets(); err == nil && rx2 > rx1 {
			rx1 = rx2
		}
	}
	res.Received = rx1 - rx0
	res.Accounted, res.Lost, res.Note = acc.packets, acc.dropped, acc.note
	if acc.iface {
		res.Accounted, res.Note = res.Received, "counts nothing itself: the interface's count"
	}
	res.Exact = res.Accounted == res.Received
	res.Seconds = elapsed.Seconds()
	res.Mpps = float64(res.Accounted) / res.Seconds / 1e6
	res.RxMpps = float64(res.Received) / res.Seconds / 1e6
	res.CPUBusy, res.CPUProc = busy1-busy0, acc.procCPU
	if runs := st1.Runs - st0.Runs; runs > 0 {
		res.NsPerPkt = float64((st1.Runtime - st0.Runtime).Nanoseconds()) / float64(runs)
	}
	return res, nil
}

// sendFiller sends fillerFrames frames to fillerPort, after the receiver's
// count has been read (see tailFlusher).
func sendFiller(s *settings, l *livebench.Lab) error {
	cfg := s.gen
	cfg.DstPort, cfg.NewEvery, cfg.GapNs = fillerPort, 0, 0
	g, err := livebench.NewGenerator(cfg)
	if err != nil {
		return err
	}
	defer g.Close()
	return livebench.InNetns(livebench.NSPath(l.GenNS), s.genCPU, func() error {
		_, _, err := g.Run(l.GenIndex, fillerFrames)
		return err
	})
}

// settledRx is the receiving veth's XDP packet count once it stops
// moving: after the generator stops, a threaded NAPI may still have up to
// a ring of frames (256 on a veth) to run, and more than a fixed wait
// when its CPU is shared or stolen. A count read too early made a
// receiver that ran those frames look as if it counted more than it got
// (accounted = received + 256, seen once in own-core mode). Bounded: at
// most 3 s, then the last reading.
func settledRx(l *livebench.Lab) (uint64, error) {
	last, err := l.RxXDPPackets()
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		n, err := l.RxXDPPackets()
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		last = n
	}
	return last, nil
}
