package loader

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// Verdicts the program returns.
const (
	XDPDrop = 1 // XDP_DROP
	XDPPass = 2 // XDP_PASS
)

// MinFrame is the shortest frame BPF_PROG_TEST_RUN accepts for XDP (an
// Ethernet header); shorter ones cannot be run and are counted by the caller.
const MinFrame = int(VxtapVxtapConstMIN_FRAME)

// RunPacket runs one frame through the loaded program with
// BPF_PROG_TEST_RUN. With an offline clock, ts becomes the program's clock
// for this packet. It returns the XDP verdict.
func (o *Objects) RunPacket(frame []byte, ts time.Time) (uint32, error) {
	if o.Config.OfflineClock {
		if err := o.Clock.Put(uint32(0), uint64(ts.UnixNano())); err != nil {
			return 0, fmt.Errorf("set packet clock: %w", err)
		}
	}
	ret, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
	}
	return ret, nil
}
