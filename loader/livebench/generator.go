package livebench

import (
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// GenConfig is the traffic the generator offers.
type GenConfig struct {
	FrameLen int    // bytes per frame, outer Ethernet included
	Flows    uint32 // inner flows the frames cycle through
	NewEvery uint32 // 1 in N frames opens a new flow (N = 1: a new-flow flood), 0 = none
	VNIs     uint32 // VNIs (mirror sessions) the flows are spread over
	VNIBase  uint32 // first VNI
	Batch    uint32 // live-frame batch size (kernel default 64, max 256)
	Chunk    uint32 // repetitions per BPF_PROG_RUN call at full rate
	GapNs    uint64 // pacing: nanoseconds between frames, 0 = full rate
	DstPort  uint16 // outer UDP destination port, 0 = VXLANPort
}

// port is the outer UDP destination port of the frames.
func (c GenConfig) port() uint16 {
	if c.DstPort == 0 {
		return VXLANPort
	}
	return c.DstPort
}

// DefaultGenConfig is issue 15's traffic: 100 flows, 156-byte frames.
func DefaultGenConfig() GenConfig {
	return GenConfig{FrameLen: 156, Flows: 100, VNIs: 1, VNIBase: 100, Batch: 64, Chunk: 1 << 30}
}

func (c GenConfig) validate() error {
	switch {
	case c.Flows == 0:
		return errors.New("flows must be at least 1")
	case c.VNIs == 0:
		return errors.New("VNIs must be at least 1")
	case c.VNIBase+c.VNIs-1 > 1<<24-1:
		return fmt.Errorf("VNIs %d..%d exceed 24 bits", c.VNIBase, c.VNIBase+c.VNIs-1)
	case c.Batch == 0 || c.Batch > 256:
		return fmt.Errorf("batch size %d out of range 1..256", c.Batch)
	case c.Chunk == 0:
		return errors.New("chunk must be at least 1")
	}
	return nil
}

// Generator is the loaded generator program and its template frame.
type Generator struct {
	cfg   GenConfig
	frame []byte
	objs  LiveGenObjects
}

// NewGenerator loads the generator with cfg's traffic.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	g := &Generator{cfg: cfg}
	var err error
	if g.frame, err = loadGen(cfg, &g.objs); err != nil {
		return nil, err
	}
	return g, nil
}

// loadGen loads the generator's programs with cfg's traffic into objs
// and returns the template frame they copy.
func loadGen(cfg GenConfig, objs *LiveGenObjects) ([]byte, error) {
	frame, err := Template(cfg.FrameLen, cfg.port())
	if err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	spec, err := LoadLiveGen()
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{"cfg_flows": cfg.Flows, "cfg_new_every": cfg.NewEvery,
		"cfg_vnis": cfg.VNIs, "cfg_vni_base": cfg.VNIBase, "cfg_gap_ns": cfg.GapNs} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("generator: set %s: %w", name, err)
		}
	}
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	return frame, nil
}

// Close unloads the generator.
func (g *Generator) Close() error { return g.objs.Close() }

// xdpMD is struct xdp_md as BPF_PROG_RUN takes it for the context: the
// frame's bounds and the interface it "arrived" on, which XDP_TX leaves by.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// Sent is how many frames the generator has handed to XDP_TX so far.
func (g *Generator) Sent() (uint64, error) { return sentOf(g.objs.GenSent) }

// sentOf is gen_sent summed over the CPUs: the frames made so far.
func sentOf(m *ebpf.Map) (uint64, error) {
	var per []uint64
	if err := m.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("read gen_sent: %w", err)
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// Run sends count more frames out of the interface ifindex, which must be
// in the calling thread's network namespace (see InNetns). It returns the
// frames sent (the generator's own count, never the requested one: a call
// the kernel restarts after a signal, or a paced call's last repetitions,
// send more than asked, never fewer) and the time taken. Frames that the
// veth fails to pass on are not known here: count at the receiver.
//
// Each call costs a fixed setup and teardown (the kernel's page pool: tens
// of milliseconds on a loaded machine), counted in the time, so a call
// should send as much as possible: at full rate, Chunk frames (default:
// everything in one call; a thread inside a syscall gets no preemption
// signal from Go). Paced, most repetitions drop: a call is sized to send
// what is left, from the repetitions per frame the last call took.
func (g *Generator) Run(ifindex int, count uint64) (sent uint64, elapsed time.Duration, err error) {
	start, err := g.Sent()
	if err != nil {
		return 0, 0, err
	}
	ctx := xdpMD{DataEnd: uint32(len(g.frame)), IngressIfindex: uint32(ifindex)}
	t0 := time.Now()
	// Paced, the repetitions a frame takes (the rest drop): a guess of
	// gap/40 ns at first, then what the previous call showed.
	perFrame := float64(max(1, g.cfg.GapNs/40))
	// Bounded: each call sends at least one frame (paced: after at most
	// one gap), so at most count calls.
	for done := uint64(0); done < count; {
		n := min(uint64(g.cfg.Chunk), count-done)
		if g.cfg.GapNs > 0 { // the first call a probe of at most 4 Ki frames
			left := count - done
			if done == 0 {
				left = min(left, 1<<12)
			}
			n = uint64(min(float64(left)*perFrame+1, 1<<25))
		}
		_, err := g.objs.LiveGen.Run(&ebpf.RunOptions{Data: g.frame, Context: ctx, Repeat: uint32(n),
			Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, BatchSize: g.cfg.Batch})
		if err != nil {
			return 0, 0, fmt.Errorf("BPF_PROG_RUN live frames on ifindex %d: %w", ifindex, err)
		}
		now, err := g.Sent()
		if err != nil {
			return 0, 0, err
		}
		if sentNow := now - start - done; sentNow > 0 {
			perFrame = float64(n) / float64(sentNow)
		}
		done = now - start
	}
	elapsed = time.Since(t0)
	end, err := g.Sent()
	return end - start, elapsed, err
}
