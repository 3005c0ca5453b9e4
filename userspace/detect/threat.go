package detect

import (
	"net/netip"

	"github.com/vxtap/vxtap/userspace/flow"
)

// threat: UnauthorizedAccess:EC2/MaliciousIPCaller.Custom for traffic to
// or from an address on a threat list. Flow starts raise it within one
// ring-buffer drain of the first packet; records catch flows whose start
// event was lost (the store deduplicates both).
func (e *Engine) threat(o *obs) {
	if e.lists.threats.len() == 0 {
		return
	}
	for _, listed := range [2]netip.Addr{o.key.Dst, o.key.Src} {
		p, origin, ok := e.lists.threats.lookup(listed)
		if !ok {
			continue
		}
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
			evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Names: []string{p.String() + " (" + origin + ")"},
				Counts: map[string]float64{"packets": float64(o.packets), "bytes": float64(o.bytes)}}}
		if listed == o.key.Dst {
			d.remotePort, d.localPort = o.key.DPort, o.key.SPort
		} else {
			d.remotePort, d.localPort = o.key.SPort, o.key.DPort
		}
		e.raise(d)
		return
	}
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
