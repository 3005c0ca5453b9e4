package trafficgen

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetns runs fn on a thread inside the named network namespace. Sockets
// fn creates belong to that namespace for good and may be used from any
// goroutine afterwards.
func inNetns(name string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// A thread stuck in the lab namespace must not run other goroutines:
		// returning without UnlockOSThread would be needed; panic is clearer.
		panic(fmt.Sprintf("leave netns %s: %v", name, err))
	}
	return ferr
}
