package detect

import (
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// bruteState counts one source's short connections to the SSH and RDP
// ports in the current window.
type bruteState struct {
	start int64
	n     [2]uint32   // [0] SSH, [1] RDP
	dst   [2]majority // the host most connections went to
	first [2]time.Time
	fired [2]bool
}

// brute: UnauthorizedAccess:EC2/SSHBruteForce and RDPBruteForce, many
// short connections (one record each: the flow ended or idled out with
// few packets) from one source to port 22 or 3389. Only the client's
// direction is needed.
func (e *Engine) brute(o *obs) {
	cfg := e.cfg.Brute
	if o.key.Proto != 6 || o.dir == flow.DirUnknown || o.end == flow.EndActive || o.end == flow.EndOverflow {
		return
	}
	svc := -1
	switch o.key.DPort {
	case cfg.SSHPort:
		svc = 0
	case cfg.RDPPort:
		svc = 1
	}
	if svc < 0 || o.packets > uint64(cfg.MaxPackets) || o.last.Sub(o.first) > cfg.MaxDuration {
		return
	}
	s := e.brutes.get(hostKey{o.vni, o.key.Src}, o.last.UnixNano())
	if window(&s.start, o.last, cfg.Window) {
		*s = bruteState{start: s.start}
	}
	if s.n[svc] == 0 {
		s.first[svc] = o.first
	}
	s.n[svc]++
	s.dst[svc].add(o.key.Dst)
	if s.fired[svc] || s.n[svc] < uint32(cfg.Connections) {
		return
	}
	s.fired[svc] = true
	typ := [2]string{TypeSSHBrute, TypeRDPBrute}[svc]
	d := detection{typ: typ, role: roleOf(o.dir), o: o, local: o.instance, proto: 6, direction: connDirection(o.dir),
		first: s.first[svc], last: o.last, detector: "bruteforce",
		evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Window: cfg.Window.String(),
			Counts: map[string]float64{"short_connections": float64(s.n[svc])}}}
	if o.dir == flow.DirIngress {
		d.remote, d.localPort = o.key.Src, o.key.DPort
	} else {
		d.remotePort = o.key.DPort
		d.remote, _ = s.dst[svc].get()
	}
	e.raise(d)
}
