package livebench

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// pinOneCPU keeps the calling goroutine on one OS thread and that thread
// on one CPU (the first it may use) until the returned function undoes
// both. A repeated BPF_PROG_TEST_RUN runs on the caller's CPU and may be
// rescheduled between repetitions; pinned, it cannot move, so per-CPU
// state (the generator's frame counter, a flow slot's owner CPU) is one
// CPU's throughout.
func pinOneCPU() (func(), error) {
	runtime.LockOSThread()
	var old, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pin: %w", err)
	}
	for c := 0; c < 1024; c++ { // bounded by CPUSet's size
		if old.IsSet(c) {
			one.Set(c)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("pin: %w", err)
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}
