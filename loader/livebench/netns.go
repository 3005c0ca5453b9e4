package livebench

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNetns runs fn on a locked OS thread that has joined the network
// namespace at nsPath and, when cpu >= 0, is pinned to that CPU. BPF
// operations that name an interface (BPF_PROG_RUN's ingress ifindex, XDP
// attach) resolve it in the calling thread's namespace, hence this.
// The thread is thrown away afterwards (never unlocked), so no goroutine
// ever runs in a namespace or on a CPU mask it did not ask for.
func InNetns(nsPath string, cpu int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread exits with the goroutine
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open %s: %w", nsPath, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join %s: %w", nsPath, err)
			return
		}
		if cpu >= 0 {
			var set unix.CPUSet
			set.Set(cpu)
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				errc <- fmt.Errorf("pin to CPU %d: %w", cpu, err)
				return
			}
		}
		errc <- fn()
	}()
	return <-errc
}
