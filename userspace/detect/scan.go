package detect

import (
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// maxProbePorts bounds the ports listed in portProbeDetails.
const maxProbePorts = 8

// scanState is one source's connection attempts in the current window:
// distinct destination ports and hosts by sketch, and the main target.
type scanState struct {
	start     int64
	ports     distinct
	hosts     distinct
	attempts  uint32
	dst       majority // the host most attempts went to
	fired     bool
	probe     [maxProbePorts]uint16 // first distinct ports probed (inbound)
	probeN    uint8
	firstFlow flow.Key
	firstTime time.Time
}

// isAttempt is a connection attempt: a TCP SYN without ACK, or the first
// packet of a UDP flow that does not look like a server's answer (from a
// lower port to an unprivileged one: DNS, NTP or a game server replying
// to clients' ephemeral ports). Answers (SYN-ACK, RST) are not attempts,
// so the scanned host's replies never count as a scan of its own. A UDP
// scan from a source port below the ports it scans above 1023 is missed.
func isAttempt(o *obs) bool {
	switch o.key.Proto {
	case 6:
		return o.flags&tcpSYN != 0 && o.flags&tcpACK == 0
	case 17:
		return !looksLikeReply(o)
	}
	return false
}

// isAnswer reports whether a flow is the answering side of a
// conversation: a TCP flow whose first packet already carries ACK
// (SYN-ACK, RST-ACK), else one that looks like a server's reply.
func isAnswer(o *obs) bool {
	if o.start && o.key.Proto == 6 {
		return o.flags&tcpACK != 0
	}
	return looksLikeReply(o)
}

// looksLikeReply: from a lower port to an unprivileged one (records carry
// every flag of both halves of the handshake, so ports must tell).
func looksLikeReply(o *obs) bool {
	return o.key.SPort < o.key.DPort && o.key.DPort >= 1024
}

// scan: Recon:EC2/Portscan when the instance makes the attempts (ACTOR),
// Recon:EC2/PortProbeUnprotectedPort when a remote host makes them
// against the instance (TARGET).
func (e *Engine) scan(o *obs) {
	if !isAttempt(o) || o.dir == flow.DirUnknown {
		return
	}
	cfg := e.cfg.Portscan
	if o.dir == flow.DirIngress {
		cfg = e.cfg.PortProbe
	}
	s := e.scans.get(hostKey{o.vni, o.key.Src}, o.last.UnixNano())
	if window(&s.start, o.last, cfg.Window) {
		*s = scanState{start: s.start, firstFlow: o.key, firstTime: o.last}
	}
	s.attempts++
	grew := s.ports.add(hashPort(o.key.DPort))
	grew = s.hosts.add(hashAddr(o.key.Dst)) || grew
	s.dst.add(o.key.Dst)
	if o.dir == flow.DirIngress && int(s.probeN) < maxProbePorts {
		seen := false
		for _, p := range s.probe[:s.probeN] {
			seen = seen || p == o.key.DPort
		}
		if !seen {
			s.probe[s.probeN] = o.key.DPort
			s.probeN++
		}
	}
	if s.fired || !grew {
		return
	}
	ports, hosts := s.ports.count(), s.hosts.count()
	vertical := ports >= float64(cfg.Ports)
	horizontal := o.dir == flow.DirEgress && hosts >= float64(cfg.Hosts)
	if !vertical && !horizontal {
		return
	}
	s.fired = true
	d := detection{role: roleOf(o.dir), o: o, local: o.instance, proto: o.key.Proto, direction: connDirection(o.dir),
		first: s.firstTime, last: o.last, detector: "scan",
		evidence: Evidence{Flows: []FlowRef{ref(s.firstFlow), ref(o.key)}, Window: cfg.Window.String(),
			Counts: map[string]float64{"attempts": float64(s.attempts), "distinct_ports": round1(ports), "distinct_hosts": round1(hosts)}}}
	if o.dir == flow.DirIngress {
		d.typ, d.remote = TypePortProbe, o.key.Src
		d.probePorts = append([]uint16(nil), s.probe[:s.probeN]...)
		d.sev = probeSeverity(d.probePorts)
	} else {
		d.typ = TypePortscan
		if a, ok := s.dst.get(); ok && vertical {
			d.remote = a
		}
	}
	e.raise(d)
}

// probeSeverity: GuardDuty raises PortProbeUnprotectedPort to High when
// the port probed is Elasticsearch's (9200, 9300).
func probeSeverity(ports []uint16) float64 {
	for _, p := range ports {
		if p == 9200 || p == 9300 {
			return SevHigh
		}
	}
	return 0
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
