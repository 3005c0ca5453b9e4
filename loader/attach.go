package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// PinRoot is where every interface's program, link and maps are pinned
// ($VXTAP_PIN_ROOT overrides it, for containers and tests).
var PinRoot = envOr("VXTAP_PIN_ROOT", "/sys/fs/bpf/vxtap")

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Pin file names next to the maps (which are pinned by their own names).
const (
	pinProg = "vxtap_xdp_prog"
	pinLink = "vxtap_xdp_link"
)

// XDP attach modes.
const (
	ModeNative  = "native"
	ModeGeneric = "generic"
	ModeAuto    = "auto"
)

// Attachment is the program attached to an interface through a pinned
// bpf_link, so it keeps running when the daemon is gone.
type Attachment struct {
	Iface  string
	Index  int
	Mode   string // native or generic, as attached
	Driver string // the interface's driver, for messages about native XDP
	Link   link.Link
	// Fallback is set when auto mode had to fall back to generic XDP.
	Fallback error
}

// Driver names the interface's driver (sysfs), or its link type.
func Driver(iface string) string {
	if p, err := filepath.EvalSymlinks(filepath.Join("/sys/class/net", iface, "device", "driver")); err == nil {
		return filepath.Base(p)
	}
	if l, err := netlink.LinkByName(iface); err == nil {
		return l.Type()
	}
	return "unknown"
}

// Attach attaches the loaded program to iface in the given mode and pins
// the program, the link and (already, at load) the maps under PinDir.
func (o *Objects) Attach(iface, mode string) (*Attachment, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", iface, err)
	}
	a := &Attachment{Iface: iface, Index: l.Attrs().Index, Driver: Driver(iface)}
	try := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: o.VxtapXdp, Interface: a.Index, Flags: flags})
	}
	switch mode {
	case ModeNative:
		a.Link, err = try(link.XDPDriverMode)
		a.Mode = ModeNative
	case ModeGeneric:
		a.Link, err = try(link.XDPGenericMode)
		a.Mode = ModeGeneric
	case ModeAuto:
		a.Mode = ModeNative
		if a.Link, err = try(link.XDPDriverMode); err != nil {
			a.Fallback = fmt.Errorf("native XDP on %s (driver %s) failed: %w", iface, a.Driver, err)
			a.Mode = ModeGeneric
			a.Link, err = try(link.XDPGenericMode)
		}
	default:
		return nil, fmt.Errorf("flag --xdp-mode: %q is not native, generic or auto", mode)
	}
	if err != nil {
		return nil, fmt.Errorf("attach XDP (%s) to %s (driver %s): %w", a.Mode, iface, a.Driver, err)
	}
	dir := PinDir(iface)
	if err := o.VxtapXdp.Pin(filepath.Join(dir, pinProg)); err != nil {
		a.Link.Close()
		return nil, fmt.Errorf("pin program: %w", err)
	}
	if err := a.Link.Pin(filepath.Join(dir, pinLink)); err != nil {
		a.Link.Close()
		return nil, fmt.Errorf("pin XDP link: %w", err)
	}
	return a, nil
}

// Pinned reports whether a program is pinned for iface.
func Pinned(iface string) bool {
	_, err := os.Stat(filepath.Join(PinDir(iface), pinLink))
	return err == nil
}

// Detach removes the attachment and every pin of iface. The maps go when
// the last user closes them.
func Detach(iface string) error {
	dir := PinDir(iface)
	var errs []error
	if l, err := link.LoadPinnedLink(filepath.Join(dir, pinLink), nil); err == nil {
		errs = append(errs, l.Unpin(), l.Close())
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("open pinned link: %w", err))
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range entries {
		errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	// The root too, once no instance is left under it (a remove of a
	// directory that is not empty fails and changes nothing; a start
	// racing this one retries its MkdirAll, see Load).
	os.Remove(PinRoot)
	return errors.Join(errs...)
}

// OpenPinned re-opens the program, link and maps a previous `vxtap run`
// left pinned for iface, so a new daemon carries on where it stopped.
func OpenPinned(iface string) (*Objects, *Attachment, error) {
	dir := PinDir(iface)
	spec, err := LoadVxtap()
	if err != nil {
		return nil, nil, err
	}
	names, err := namesFromBTF(spec)
	if err != nil {
		return nil, nil, err
	}
	o := &Objects{names: names, clock: newClockConv(false)}
	if o.VxtapXdp, err = ebpf.LoadPinnedProgram(filepath.Join(dir, pinProg), nil); err != nil {
		o.Close()
		return nil, nil, fmt.Errorf("open pinned program: %w", err)
	}
	if err := pinShared(dir, spec, o.VxtapXdp); err != nil {
		o.Close()
		return nil, nil, err
	}
	if err := openPinnedMaps(dir, &o.VxtapMaps); err != nil {
		o.Close()
		return nil, nil, err
	}
	l, err := link.LoadPinnedLink(filepath.Join(dir, pinLink), nil)
	if err != nil {
		o.Close()
		return nil, nil, fmt.Errorf("open pinned XDP link: %w", err)
	}
	a := &Attachment{Iface: iface, Link: l, Driver: Driver(iface), Mode: attachedMode(iface)}
	if nl, err := netlink.LinkByName(iface); err == nil {
		a.Index = nl.Attrs().Index
	}
	if err := o.mapSlots(); err != nil {
		o.Close()
		a.Link.Close()
		return nil, nil, err
	}
	o.Config.FlowTableSize = o.FlowTableSize()
	// Unreadable, the switch counts as off: threat lists are then checked
	// in userspace, which is slower but never wrong.
	o.Config.ThreatEnabled, _ = pinnedSwitch(o.VxtapXdp, spec, "cfg_threat_enabled")
	return o, a, nil
}

// pinShared pins a flow_shared missing beside the other pins: the running
// program's own when it has one (a pin removed by hand), else a new one
// sized as flow_slots, for pins an older version made, so a daemon of this
// version carries on over them (that program never reads the map: every
// CPU adds to the slots with atomics, and Go's merges and reads use
// flow_shared all the same). Pins without a flow_slots are left for
// openPinnedMaps to refuse. Two processes at once: the second finds the
// first's pin and uses it.
func pinShared(dir string, spec *ebpf.CollectionSpec, prog *ebpf.Program) error {
	path := filepath.Join(dir, VxtapMapFlowShared)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if m, err := progMap(prog, func(mi *ebpf.MapInfo) bool { return mi.Name == VxtapMapFlowShared }); err != nil {
		return err
	} else if m != nil {
		defer m.Close()
		if err := m.Pin(path); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("pin the program's flow_shared: %w", err)
		}
		return nil
	}
	slots, err := ebpf.LoadPinnedMap(filepath.Join(dir, VxtapMapFlowSlots), nil)
	if err != nil {
		return nil
	}
	defer slots.Close()
	ms := spec.Maps[VxtapMapFlowShared].Copy()
	ms.MaxEntries = slots.MaxEntries()
	ms.Pinning = ebpf.PinByName // a pin already there (another process's) is used
	var m *ebpf.Map
	for range 2 { // a pin made between this one's look and its own fails once
		if m, err = ebpf.NewMapWithOptions(ms, ebpf.MapOptions{PinPath: dir}); err == nil {
			return m.Close()
		}
	}
	return fmt.Errorf("create flow_shared beside older pins: %w", err)
}

// attachedMode asks netlink how XDP is attached to iface.
func attachedMode(iface string) string {
	l, err := netlink.LinkByName(iface)
	if err != nil || l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached {
		return "none"
	}
	switch l.Attrs().Xdp.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return ModeNative
	case 2: // XDP_ATTACHED_SKB
		return ModeGeneric
	case 3: // XDP_ATTACHED_HW
		return "offload"
	}
	return "unknown"
}

// AttachedProgID is the id of the XDP program netlink reports on iface, 0 if none.
func AttachedProgID(iface string) uint32 {
	l, err := netlink.LinkByName(iface)
	if err != nil || l.Attrs().Xdp == nil {
		return 0
	}
	return l.Attrs().Xdp.ProgId
}

// ProgID is the kernel's id of the loaded XDP program, 0 if unknown.
func (o *Objects) ProgID() uint32 {
	info, err := o.VxtapXdp.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return uint32(id)
}
