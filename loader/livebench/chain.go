package livebench

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// Chain runs the generator and a receiver in one repeated
// BPF_PROG_TEST_RUN (live_gen_chain: each repetition makes the next frame,
// then tail-calls the receiver on it). A single run per call costs a
// system call and cold caches per frame, which a flood does not pay; a
// chain times traffic that changes every frame, a new-flow flood above
// all, the way it arrives. Not live: nothing is sent.
type Chain struct {
	cfg   GenConfig
	frame []byte
	objs  LiveGenObjects
}

// NewChain loads the generator for a chain with cfg's traffic (its pacing
// and batch settings do not apply).
func NewChain(cfg GenConfig) (*Chain, error) {
	cfg.GapNs = 0
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	c := &Chain{cfg: cfg}
	var err error
	if c.frame, err = loadGen(cfg, &c.objs); err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	return c, nil
}

// Close unloads the chain's programs.
func (c *Chain) Close() error { return c.objs.Close() }

// End is the harness's receiver (XDP_DROP): a chain into it times the
// generator and the tail call, to subtract from a receiver's figure.
func (c *Chain) End() *ebpf.Program { return c.objs.LiveChainEnd }

// Run runs n frames through the generator into recv (an XDP program
// loaded with multi-buffer support, as vxtap's and End are) and returns
// the kernel's time per frame and the last frame's verdict. The run is
// held on one CPU: the generator numbers its frames per CPU, and a run the
// kernel moved to another CPU between repetitions made that CPU's frames
// 0, 1, ... again, flows already seen (a new-flow flood then counted them
// as existing flows, without their flow-start records).
func (c *Chain) Run(recv *ebpf.Program, n int) (time.Duration, uint32, error) {
	if err := c.objs.GenChain.Put(uint32(0), recv); err != nil {
		return 0, 0, fmt.Errorf("chain: set receiver: %w", err)
	}
	unpin, err := pinOneCPU()
	if err != nil {
		return 0, 0, fmt.Errorf("chain: %w", err)
	}
	defer unpin()
	verdict, d, err := c.objs.LiveGenChain.Benchmark(c.frame, n, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("chain: run: %w", err)
	}
	return d, verdict, nil
}

// Made is how many frames the chain's generator has made so far: more
// than the runs asked for when the kernel restarted a run after a signal
// (the library runs it again; frames of the interrupted run were made).
func (c *Chain) Made() (uint64, error) { return sentOf(c.objs.GenSent) }
