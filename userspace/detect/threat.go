package detect

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/vxtap/vxtap/userspace/flow"
)

// threat: UnauthorizedAccess:EC2/MaliciousIPCaller.Custom for traffic to
// or from an address on a threat list, checked in userspace: flow starts
// raise it within one ring-buffer drain of the first packet; records catch
// flows whose start event was lost (the store deduplicates both). With the
// kernel's trie in use (UseKernelThreats) the kernel checks every copy of
// every flow in its table and this stands down, but for overflow records:
// copies of flows that found no slot make no threat event.
func (e *Engine) threat(o *obs) {
	if e.lists.threats.len() == 0 || (e.kernel != nil && o.end != flow.EndOverflow) {
		return
	}
	for _, listed := range [2]netip.Addr{o.key.Dst, o.key.Src} {
		p, origin, ok := e.lists.threats.lookup(listed)
		if ok {
			e.raiseThreat(o, listed, p.String()+" ("+origin+")")
			return
		}
	}
}

// kernelThreat raises the finding of a threat hit the kernel sent (the
// flow's first packet to or from a listed address). The destination is
// named when both sides are listed, as the userspace check does.
func (e *Engine) kernelThreat(o *obs, m flow.ThreatMatch) {
	if e.kernel == nil {
		return // not our lists: the trie was never handed over, userspace checks
	}
	listed, list := o.key.Dst, m.DstList
	if list == 0 {
		listed, list = o.key.Src, m.SrcList
	}
	if list == 0 {
		return
	}
	// The prefix and line from the lists in force; a list replaced since
	// the hit names its file only.
	why := ""
	if p, origin, ok := e.lists.threats.lookup(listed); ok {
		why = p.String() + " (" + origin + ")"
	} else if int(list) <= len(e.lists.threatFiles) {
		why = listed.String() + " (" + filepath.Base(e.lists.threatFiles[list-1]) + ", since replaced)"
	} else {
		why = fmt.Sprintf("%s (list %d, since removed)", listed, list)
	}
	e.raiseThreat(o, listed, why)
}

func (e *Engine) raiseThreat(o *obs, listed netip.Addr, why string) {
	local := o.key.Src
	if listed == o.key.Src {
		local = o.key.Dst
	}
	// ACTOR when the instance started the conversation with the listed
	// host (its flow, or the listed host's answer to it), else TARGET.
	role, dir := Actor, Outbound
	if (listed == o.key.Src) != isAnswer(o) {
		role, dir = Target, Inbound
	}
	if o.dir == flow.DirUnknown {
		dir = Unknown
	}
	d := detection{typ: TypeMaliciousIP, role: role, o: o, local: local, remote: listed, proto: o.key.Proto,
		direction: dir, first: o.first, last: o.last, detector: "threat_list",
		evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Names: []string{why},
			Counts: map[string]float64{"packets": float64(o.packets), "bytes": float64(o.bytes)}}}
	if listed == o.key.Dst {
		d.remotePort, d.localPort = o.key.DPort, o.key.SPort
	} else {
		d.remotePort, d.localPort = o.key.SPort, o.key.DPort
	}
	e.raise(d)
}

// UseKernelThreats hands the engine the data path's threat trie: the lists
// in force are written into it now and on every reload, and from then on
// the kernel's hit events raise the finding. A trie the lists do not fit
// is an error, and the userspace check stays.
func (e *Engine) UseKernelThreats(t flow.ThreatTable) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.mu.Lock()
	l := e.lists
	e.mu.Unlock()
	if err := t.SetThreats(l.threatEntries); err != nil {
		// Entries a previous daemon left must not go on hitting.
		if cerr := t.SetThreats(nil); cerr != nil {
			err = fmt.Errorf("%w (and emptying the table: %v)", err, cerr)
		}
		return fmt.Errorf("threat lists into the kernel: %w", err)
	}
	e.mu.Lock()
	e.kernel = t
	e.mu.Unlock()
	return nil
}

// KernelThreats says whether the kernel's trie checks the threat lists.
func (e *Engine) KernelThreats() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kernel != nil
}

// pushThreats writes l's threat prefixes into the kernel's trie, when
// the kernel checks them (under reloadMu).
func (e *Engine) pushThreats(l *lists) error {
	e.mu.Lock()
	t := e.kernel
	e.mu.Unlock()
	if t == nil {
		return nil
	}
	if err := t.SetThreats(l.threatEntries); err != nil {
		return fmt.Errorf("threat lists into the kernel: %w", err)
	}
	return nil
}

// ThreatPrefixes counts the threat-listed prefixes in force, to size the
// kernel's trie before the program is loaded.
func (e *Engine) ThreatPrefixes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.lists.threatEntries)
}

// mining: CryptoCurrency:EC2/BitcoinTool.B when the instance connects to
// a listed pool address or a Stratum port.
func (e *Engine) mining(o *obs) {
	if o.dir == flow.DirIngress || !isAttempt(o) {
		return
	}
	why := ""
	if p, origin, ok := e.lists.pools.lookup(o.key.Dst); ok {
		why = "pool " + p.String() + " (" + origin + ")"
	} else if o.key.Proto == 6 {
		for _, port := range e.cfg.Mining.Ports {
			if o.key.DPort == port {
				why = "Stratum port"
				break
			}
		}
	}
	if why == "" {
		return
	}
	local := o.key.Src
	e.raise(detection{typ: TypeBitcoinTool, role: Actor, o: o, local: local, remote: o.key.Dst, proto: o.key.Proto,
		localPort: o.key.SPort, remotePort: o.key.DPort, direction: connDirection(o.dir), first: o.first, last: o.last,
		detector: "mining", evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Names: []string{why}}})
}
