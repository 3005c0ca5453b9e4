package loader

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Verdicts the program returns.
const (
	XDPDrop = 1 // XDP_DROP
	XDPPass = 2 // XDP_PASS
)

// MinFrame is the shortest frame BPF_PROG_TEST_RUN accepts for XDP (an
// Ethernet header): MIN_FRAME of bpf/include/vxtap_shared.h.
const MinFrame = int(VxtapVxtapConstMIN_FRAME)

// RunPacket runs one frame through the loaded program with
// BPF_PROG_TEST_RUN. With an offline clock, ts becomes the program's clock
// for this packet. It returns the XDP verdict. A frame shorter than
// MinFrame, which the kernel will not run, is counted here under
// short_outer_eth, as the program would, and passed.
func (o *Objects) RunPacket(frame []byte, ts time.Time) (uint32, error) {
	if len(frame) < MinFrame {
		return XDPPass, o.countShortFrame(len(frame))
	}
	if o.Config.OfflineClock {
		if err := o.Clock.Put(uint32(0), uint64(ts.UnixNano())); err != nil {
			return 0, fmt.Errorf("set packet clock: %w", err)
		}
	}
	ret, err := o.VxtapXdp.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.E2BIG) || errors.Is(err, unix.EMSGSIZE) {
			reason := "test_run_refused"
			if len(frame) > os.Getpagesize() {
				reason = "frame_too_large"
			}
			return 0, &FrameRefusedError{Reason: reason, Len: len(frame), Err: err}
		}
		return 0, fmt.Errorf("BPF_PROG_TEST_RUN: %w", err)
	}
	return ret, nil
}

// countShortFrame adds a frame the kernel cannot run to short_outer_eth.
// The counter is per CPU: this adds to CPU 0's share with a read and a
// write, exact as long as no program run writes it meanwhile, which holds
// for RunPacket's users (vxtap analyze and tests run one frame at a time).
func (o *Objects) countShortFrame(n int) error {
	idx := uint32(VxtapVxtapReasonREASON_SHORT_OUTER_ETH)
	var per []VxtapCounter
	if err := o.VxtapMaps.Counters.Lookup(idx, &per); err != nil {
		return fmt.Errorf("read short_outer_eth: %w", err)
	}
	per[0].Packets++
	per[0].Bytes += uint64(n)
	if err := o.VxtapMaps.Counters.Update(idx, per, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("count a short frame: %w", err)
	}
	return nil
}

// FrameRefusedError is a frame BPF_PROG_TEST_RUN will not take (an 80 KB
// BIG TCP frame does not fit one XDP buffer): the caller counts it under
// Reason and goes on with the next frame.
type FrameRefusedError struct {
	Reason string // frame_too_large, or test_run_refused
	Len    int
	Err    error
}

func (e *FrameRefusedError) Error() string {
	return fmt.Sprintf("%s: BPF_PROG_TEST_RUN refused the %d-byte frame: %v", e.Reason, e.Len, e.Err)
}

func (e *FrameRefusedError) Unwrap() error { return e.Err }

// FrameRefused names the reason the frame is counted under.
func (e *FrameRefusedError) FrameRefused() string { return e.Reason }
