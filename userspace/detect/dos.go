package detect

import (
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// floodKey is one destination service: address and, for TCP, port (UDP
// floods often spray ports, so they share port 0).
type floodKey struct {
	vni   uint32
	addr  netip.Addr
	port  uint16
	proto uint8
}

// floodState counts what went to one destination in the window.
type floodState struct {
	start     int64
	syn       uint32   // SYN-without-ACK flow starts
	completed uint32   // TCP records carrying an ACK (the handshake went on)
	udp       float64  // UDP packets, records scaled to the window
	src       majority // the host most of it came from
	first     time.Time
	fired     bool
	dir       flow.Direction
	instance  netip.Addr
}

func (e *Engine) flood(o *obs, port uint16) *floodState {
	cfg := e.cfg.DoS
	s := e.floods.get(floodKey{o.vni, o.key.Dst, port, o.key.Proto}, o.last.UnixNano())
	if window(&s.start, o.last, cfg.Window) {
		*s = floodState{start: s.start, first: o.first, dir: o.dir, instance: o.instance}
	}
	s.src.add(o.key.Src)
	return s
}

// synFlood: Backdoor:EC2/DenialOfService.Tcp, many SYNs towards one
// destination port in the window of which few completed a handshake.
// ACTOR when the instance sends them, TARGET when it receives them.
func (e *Engine) synFlood(o *obs) {
	if o.key.Proto != 6 || o.dir == flow.DirUnknown || o.flags&tcpSYN == 0 || o.flags&tcpACK != 0 {
		return
	}
	s := e.flood(o, o.key.DPort)
	s.syn++
	cfg := e.cfg.DoS
	if s.fired || s.syn < uint32(cfg.SYN) || float64(s.completed) > cfg.CompletedRatio*float64(s.syn) {
		return
	}
	s.fired = true
	e.raiseFlood(o, s, TypeDoSTCP, map[string]float64{"syn": float64(s.syn), "completed": float64(s.completed)})
}

// completed counts TCP records with an ACK towards a destination: the
// client went on past its SYN, so those SYNs were not a flood.
func (e *Engine) completed(o *obs) {
	if o.key.Proto != 6 || o.dir == flow.DirUnknown || o.flags&tcpACK == 0 {
		return
	}
	if s, ok := e.peekFlood(floodKey{o.vni, o.key.Dst, o.key.DPort, 6}); ok {
		s.completed++
	}
}

func (e *Engine) peekFlood(k floodKey) (*floodState, bool) {
	if i, ok := e.floods.idx[k]; ok {
		return &e.floods.vals[i], true
	}
	return nil, false
}

// udpFlood: Backdoor:EC2/DenialOfService.Udp, UDP packets towards one
// destination over the threshold in the window. A record spanning more
// than the window counts at its average rate, so a long steady stream is
// not mistaken for a burst.
func (e *Engine) udpFlood(o *obs) {
	if o.key.Proto != 17 || o.dir == flow.DirUnknown {
		return
	}
	cfg := e.cfg.DoS
	s := e.flood(o, 0)
	n := float64(o.packets)
	if dur := o.last.Sub(o.first); dur > cfg.Window {
		n *= float64(cfg.Window) / float64(dur)
	}
	s.udp += n
	if s.fired || s.udp < float64(cfg.UDPPackets) {
		return
	}
	s.fired = true
	e.raiseFlood(o, s, TypeDoSUDP, map[string]float64{"udp_packets": round1(s.udp)})
}

func (e *Engine) raiseFlood(o *obs, s *floodState, typ string, counts map[string]float64) {
	d := detection{typ: typ, role: roleOf(o.dir), o: o, local: o.instance, proto: o.key.Proto, direction: connDirection(o.dir),
		first: s.first, last: o.last, detector: "dos",
		evidence: Evidence{Flows: []FlowRef{ref(o.key)}, Window: e.cfg.DoS.Window.String(), Counts: counts}}
	if o.dir == flow.DirIngress {
		d.localPort = o.key.DPort
		d.remote, _ = s.src.get()
	} else {
		d.remote, d.remotePort = o.key.Dst, o.key.DPort
	}
	if typ == TypeDoSUDP {
		d.localPort, d.remotePort = 0, 0
	}
	e.raise(d)
}
