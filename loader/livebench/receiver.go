package livebench

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Receiver is a baseline XDP program attached (native mode) to the
// receiving interface: drop (the ceiling) or touch (the floor).
type Receiver struct {
	Name  string
	Prog  *ebpf.Program
	link  link.Link
	drop  *LiveDropObjects
	touch *LiveTouchObjects
}

// Baselines names the baseline receivers AttachBaseline knows.
var Baselines = []string{"drop", "touch"}

// AttachBaseline loads the named baseline and attaches it to ifindex in
// the calling thread's network namespace (see InNetns).
func AttachBaseline(name string, ifindex int) (*Receiver, error) {
	r := &Receiver{Name: name}
	switch name {
	case "drop":
		r.drop = new(LiveDropObjects)
		if err := LoadLiveDropObjects(r.drop, nil); err != nil {
			return nil, fmt.Errorf("load drop: %w", err)
		}
		r.Prog = r.drop.LiveDrop
	case "touch":
		r.touch = new(LiveTouchObjects)
		if err := LoadLiveTouchObjects(r.touch, nil); err != nil {
			return nil, fmt.Errorf("load touch: %w", err)
		}
		r.Prog = r.touch.LiveTouch
	default:
		return nil, fmt.Errorf("no baseline receiver %q (have %v)", name, Baselines)
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: r.Prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("attach %s to ifindex %d (native XDP): %w", name, ifindex, err)
	}
	r.link = l
	return r, nil
}

// Accounted is what the receiver itself counted: the touch program's
// parsed frames (and the frames it could not parse), or, for drop, which
// counts nothing, ok = false: its count is the interface's.
func (r *Receiver) Accounted() (parsed, other uint64, ok bool, err error) {
	if r.touch == nil {
		return 0, 0, false, nil
	}
	var per []LiveTouchTouchCount
	if err := r.touch.TouchCounts.Lookup(uint32(0), &per); err != nil {
		return 0, 0, false, fmt.Errorf("read touch_counts: %w", err)
	}
	for _, c := range per {
		parsed += c.Packets
		other += c.Other
	}
	return parsed, other, true, nil
}

// Close detaches and unloads the receiver.
func (r *Receiver) Close() error {
	var errs []error
	if r.link != nil {
		errs = append(errs, r.link.Close())
	}
	if r.drop != nil {
		errs = append(errs, r.drop.Close())
	}
	if r.touch != nil {
		errs = append(errs, r.touch.Close())
	}
	return errors.Join(errs...)
}
