package loader

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vxtap/vxtap/userspace/ifname"
)

// The decapsulated feed (--decap-to): the XDP program redirects the inner
// frame of every accepted copy to an interface found in decap_ports, by VNI
// or else under DecapDefault (bpf/include/redirect.h). These are its narrow
// handles: targets, the veth pair vxtap may create, and the tracepoints that
// count redirects the kernel failed after the program returned.

// DecapDefault is the decap_ports key of the interface for VNIs without
// their own (DECAP_DEFAULT_KEY: no 24-bit VNI).
const DecapDefault = uint32(VxtapVxtapConstDECAP_DEFAULT_KEY)

// DecapPeerSuffix names the end of a created veth pair vxtap transmits
// into: tools read NAME, vxtap redirects into NAME-peer.
const DecapPeerSuffix = "-peer"

// Decap is the running feed: its targets and failure counting. Close
// empties decap_ports (forwarding stops with the daemon), detaches the
// tracepoints and removes the veth pairs it created.
type Decap struct {
	o       *Objects
	owner   string // the mirror interface, whose instance key marks created pairs
	keys    []uint32
	trace   decapTraceObjects
	links   []link.Link
	created []string // veth pairs created, by the name tools read

	// Replaced names the pairs a killed run had left and this one made
	// anew, for the log.
	Replaced []string
}

// decapAliasPrefix starts the interface alias vxtap gives the NAME end of a
// pair it creates; the owner's instance key follows, so a pair a killed
// daemon left behind is known as its own (and nobody else's is touched).
const decapAliasPrefix = "vxtap decap feed of "

// decapAlias is the alias of the pairs created for mirror interface owner.
func decapAlias(owner string) string { return decapAliasPrefix + ifname.Key(owner) }

// isDecapLeftover says whether l is the NAME end of a veth pair created for
// owner's instance: a veth whose alias says so.
func isDecapLeftover(l netlink.Link, owner string) bool {
	_, veth := l.(*netlink.Veth)
	return veth && l.Attrs().Alias == decapAlias(owner)
}

// DecapLeftover says whether the interface name is a pair created for
// owner's instance by a run that did not remove it (killed): a restart
// may take the name again.
func DecapLeftover(name, owner string) bool {
	l, err := netlink.LinkByName(name)
	return err == nil && isDecapLeftover(l, owner)
}

// RemoveDecapLeftovers removes every pair created for owner's instance
// that is still there (the daemon was killed) and returns their names.
// Only for a stopped instance: a running daemon's pairs look the same.
func RemoveDecapLeftovers(owner string) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var gone []string
	var errs []error
	for _, l := range links {
		if !isDecapLeftover(l, owner) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("remove veth %s: %w", l.Attrs().Name, err))
			continue
		}
		gone = append(gone, l.Attrs().Name)
	}
	return gone, errors.Join(errs...)
}

// decapTraceObjects is what vxtap loads of bpf/decap_trace.c: the programs
// and the target set; its counters map is the main program's.
type decapTraceObjects struct {
	PeerPass    *ebpf.Program `ebpf:"decap_peer_pass"`
	RedirectErr *ebpf.Program `ebpf:"decap_redirect_err"`
	Xmit        *ebpf.Program `ebpf:"decap_xmit"`
	Ifaces      *ebpf.Map     `ebpf:"decap_ifaces"`
}

func (t *decapTraceObjects) close() error {
	var errs []error
	for _, p := range []*ebpf.Program{t.PeerPass, t.RedirectErr, t.Xmit} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if t.Ifaces != nil {
		errs = append(errs, t.Ifaces.Close())
	}
	return errors.Join(errs...)
}

// OpenDecap loads the failure counters and attaches them; targets come
// with SetTarget. The program must have been loaded with Config.Decap;
// owner is the mirror interface it runs on (created pairs carry its
// instance key, see decapAlias).
func (o *Objects) OpenDecap(owner string) (*Decap, error) {
	spec, err := LoadDecapTrace()
	if err != nil {
		return nil, fmt.Errorf("read embedded decap BPF object: %w", err)
	}
	info, err := o.DecapPorts.Info()
	if err != nil {
		return nil, fmt.Errorf("decap_ports info: %w", err)
	}
	id, _ := info.ID()
	if err := spec.Variables["cfg_decap_map_id"].Set(uint32(id)); err != nil {
		return nil, fmt.Errorf("set cfg_decap_map_id: %w", err)
	}
	d := &Decap{o: o, owner: owner}
	opts := &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{"counters": o.VxtapMaps.Counters}}
	if err := spec.LoadAndAssign(&d.trace, opts); err != nil {
		return nil, fmt.Errorf("load decap failure counters: %w", err)
	}
	for name, p := range map[string]*ebpf.Program{"xdp_redirect_err": d.trace.RedirectErr, "xdp_devmap_xmit": d.trace.Xmit} {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: name, Program: p})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("attach decap failure counter to tracepoint %s: %w", name, err)
		}
		d.links = append(d.links, l)
	}
	return d, nil
}

// SetTarget forwards the copies of vni (DecapDefault: of every VNI without
// its own) to the interface named iface. "create:NAME" creates a veth pair
// NAME / NAME-peer (mtu as given, 0 = the kernel's), attaches the XDP
// program a veth needs to deliver redirected frames to NAME, and forwards
// into NAME-peer, so tools read NAME; Close removes the pair. It returns
// the interface tools read.
func (d *Decap) SetTarget(vni uint32, iface string, create bool, mtu int) (string, error) {
	read, target := iface, iface
	if create {
		if err := d.createVeth(iface, mtu); err != nil {
			return "", err
		}
		target = iface + DecapPeerSuffix
	}
	l, err := netlink.LinkByName(target)
	if err != nil {
		return "", fmt.Errorf("decap interface %s: %w", target, err)
	}
	idx := uint32(l.Attrs().Index)
	if err := d.o.DecapPorts.Put(vni, idx); err != nil {
		return "", fmt.Errorf("decap_ports: VNI %d to %s: %w", vni, target, err)
	}
	d.keys = append(d.keys, vni)
	if err := d.trace.Ifaces.Put(idx, uint8(1)); err != nil {
		return "", fmt.Errorf("decap_ifaces: %s: %w", target, err)
	}
	return read, nil
}

// DecapVethName checks a name for a created pair: NAME-peer must fit the
// kernel's 15 characters.
func DecapVethName(name string) error {
	if name == "" || len(name)+len(DecapPeerSuffix) > 15 {
		return fmt.Errorf("create:%s: the name must have 1 to %d characters (its peer %s%s must fit 15)", name, 15-len(DecapPeerSuffix), name, DecapPeerSuffix)
	}
	return nil
}

// createVeth makes the pair, up, with the pass-all XDP program on NAME
// (the end receiving the redirected frames). A veth refuses XDP frames
// whose receiving end runs no XDP program and has no NAPI.
func (d *Decap) createVeth(name string, mtu int) error {
	if err := DecapVethName(name); err != nil {
		return err
	}
	if l, err := netlink.LinkByName(name); err == nil {
		if !isDecapLeftover(l, d.owner) {
			return fmt.Errorf("create:%s: an interface %s already exists (give it without create: to use it)", name, name)
		}
		// A pair a killed run left behind: it carries none of this
		// run's programs, so it is made anew.
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("create:%s: remove the pair left by a previous run: %w", name, err)
		}
		d.Replaced = append(d.Replaced, name)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	attrs.MTU = mtu
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: name + DecapPeerSuffix}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair %s/%s%s: %w", name, name, DecapPeerSuffix, err)
	}
	d.created = append(d.created, name)
	if l, err := netlink.LinkByName(name); err != nil {
		return fmt.Errorf("veth %s: %w", name, err)
	} else if err := netlink.LinkSetAlias(l, decapAlias(d.owner)); err != nil {
		return fmt.Errorf("veth %s: mark it as vxtap's: %w", name, err)
	}
	for _, n := range []string{name, name + DecapPeerSuffix} {
		// No IPv6 of its own: the feed carries only mirrored frames,
		// never the kernel's router solicitations or MLD reports.
		os.WriteFile("/proc/sys/net/ipv6/conf/"+n+"/disable_ipv6", []byte("1"), 0o644)
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return fmt.Errorf("veth %s up: %w", n, err)
		}
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("veth %s: %w", name, err)
	}
	pl, err := link.AttachXDP(link.XDPOptions{Program: d.trace.PeerPass, Interface: l.Attrs().Index, Flags: link.XDPDriverMode})
	if err != nil {
		return fmt.Errorf("attach the pass-all XDP program to %s: %w", name, err)
	}
	d.links = append(d.links, pl)
	return nil
}

// Close stops forwarding, detaches the failure counters and removes the
// veth pairs created.
func (d *Decap) Close() error {
	var errs []error
	for _, k := range d.keys {
		if err := d.o.DecapPorts.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("decap_ports %d: %w", k, err))
		}
	}
	d.keys = nil
	for _, l := range d.links {
		errs = append(errs, l.Close())
	}
	d.links = nil
	for _, n := range d.created {
		if l, err := netlink.LinkByName(n); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, fmt.Errorf("remove veth %s: %w", n, err))
			}
		}
	}
	d.created = nil
	errs = append(errs, d.trace.close())
	d.trace = decapTraceObjects{}
	return errors.Join(errs...)
}

// DecapEnabled tells whether the program was loaded with Config.Decap. A
// program re-opened from its pins carries its switches in its .rodata map,
// read from the kernel.
func (o *Objects) DecapEnabled() bool {
	if o.Config.Decap {
		return true
	}
	spec, err := LoadVxtap()
	if err != nil {
		return false
	}
	vs, ok := spec.Variables["cfg_decap"]
	if !ok {
		return false
	}
	info, err := o.VxtapXdp.Info()
	if err != nil {
		return false
	}
	ids, _ := info.MapIDs()
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		mi, err := m.Info()
		if err == nil && strings.HasSuffix(mi.Name, ".rodata") {
			buf := make([]byte, m.ValueSize())
			err = m.Lookup(uint32(0), &buf)
			m.Close()
			return err == nil && int(vs.Offset) < len(buf) && buf[vs.Offset] != 0
		}
		m.Close()
	}
	return false
}
