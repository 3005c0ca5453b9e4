package livebench

import (
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// EnableStats turns on the kernel's per-program run time and count
// (kernel.bpf_stats_enabled) until the returned closer is closed. It
// costs two clock reads per packet, so rates measured with it on are not
// comparable with rates measured without.
func EnableStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF stats: %w", err)
	}
	return c, nil
}

// ProgStats is a program's cumulative run time and run count.
type ProgStats struct {
	Runtime time.Duration
	Runs    uint64
}

// StatsByID reads the run statistics of the program with that id (any
// namespace, any process: vxtap run's program included).
func StatsByID(id uint32) (ProgStats, error) {
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return ProgStats{}, fmt.Errorf("program %d: %w", id, err)
	}
	defer p.Close()
	return Stats(p)
}

// Stats reads a loaded program's run statistics.
func Stats(p *ebpf.Program) (ProgStats, error) {
	s, err := p.Stats()
	if err != nil {
		return ProgStats{}, fmt.Errorf("program stats: %w", err)
	}
	return ProgStats{Runtime: s.Runtime, Runs: s.RunCount}, nil
}
