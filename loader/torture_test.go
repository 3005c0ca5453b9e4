package loader

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/refparse"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// The differential torture of issue 10: generated frames (valid, mutated,
// truncated at every offset, random flags, VLAN stacks, IPv6 extension
// chains, GENEVE, fragments) through the XDP program and the plain Go
// reference parser (userspace/refparse): the same verdict, terminal
// reason, shape flags, flow key and bytes, frame by frame.
// VXTAP_TORTURE_N sets the count (`make torture`: 200,000).

// tortureGen builds frames from a seeded source, so a failure replays.
type tortureGen struct{ r *rand.Rand }

func (g tortureGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

func (g tortureGen) chance(p float64) bool { return g.r.Float64() < p }

// eth is an Ethernet header with 0..3 VLAN tags (3 is one too many).
func (g tortureGen) eth(typ uint16) []byte {
	b := append(g.bytes(12), 0, 0)
	tags := 0
	if g.chance(0.25) {
		tags = 1 + int(g.r.UintN(3))
	}
	for i := 0; i < tags; i++ {
		tpid := uint16(0x8100)
		if g.chance(0.3) {
			tpid = 0x88a8
		}
		binary.BigEndian.PutUint16(b[len(b)-2:], tpid)
		b = append(b, byte(g.r.UintN(16)), byte(g.r.UintN(256)), 0, 0)
	}
	binary.BigEndian.PutUint16(b[len(b)-2:], typ)
	return b
}

// l4 is a TCP or UDP header (random ports and flags) or nothing.
func (g tortureGen) l4(proto uint8) []byte {
	switch proto {
	case 6:
		b := g.bytes(20)
		b[12] = 5 << 4
		return b
	case 17:
		return g.bytes(8)
	}
	return nil
}

// ip is an IPv4 (maybe with options, maybe a fragment) or IPv6 (maybe with
// an extension chain) header around payload; lengths right unless told.
func (g tortureGen) ip(v6 bool, proto uint8, payload []byte) ([]byte, uint16) {
	if !v6 {
		opt := 0
		if g.chance(0.2) {
			opt = 4 * int(1+g.r.UintN(10))
		}
		h := append(g.bytes(20), make([]byte, opt)...)
		h[0] = 0x40 | byte(5+opt/4)
		binary.BigEndian.PutUint16(h[2:], uint16(len(h)+len(payload)))
		var fo uint16
		switch {
		case g.chance(0.1):
			fo = 0x2000 // first fragment
		case g.chance(0.1):
			fo = uint16(1 + g.r.UintN(100)) // a later one
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		h[9] = proto
		return append(h, payload...), 0x0800
	}
	h := g.bytes(40)
	h[0] = 0x60 | h[0]&0x0f
	var exts []byte
	next := proto
	n := 0
	if g.chance(0.3) {
		n = 1 + int(g.r.UintN(8)) // past the 6 the program follows, sometimes
	}
	types := []uint8{0, 43, 44, 60, 51, 135}
	for i := 0; i < n; i++ {
		t := types[g.r.UintN(uint(len(types)))]
		var e []byte
		switch t {
		case 44:
			e = g.bytes(8)
			if g.chance(0.5) {
				e[2], e[3] = 0, byte(g.r.UintN(2)) // offset 0, maybe more fragments
			}
		case 51:
			words := 1 + int(g.r.UintN(3))
			e = g.bytes((words + 2) * 4)
			e[1] = byte(words)
		default:
			units := int(g.r.UintN(3))
			e = g.bytes((units + 1) * 8)
			e[1] = byte(units)
		}
		e[0] = next
		exts = append(e, exts...)
		next = t
	}
	h[6] = next
	body := append(exts, payload...)
	binary.BigEndian.PutUint16(h[4:], uint16(len(body)))
	return append(h, body...), 0x86dd
}

// inner is the mirrored frame.
func (g tortureGen) inner() []byte {
	if g.chance(0.05) {
		return append(g.eth(0x0806), g.bytes(28)...) // ARP
	}
	protos := []uint8{6, 17, 1, 58, 47}
	proto := protos[g.r.UintN(uint(len(protos)))]
	p := append(g.l4(proto), g.bytes(int(g.r.UintN(200)))...)
	if g.chance(0.05) {
		// A whole packet whose stated length ends inside its L4 header.
		p = g.l4(proto)
		p = p[:g.r.UintN(uint(len(p))+1)]
	}
	ipb, typ := g.ip(g.chance(0.4), proto, p)
	return append(g.eth(typ), ipb...)
}

// frame is a whole mirror copy: outer headers, maybe GENEVE, VXLAN, inner.
func (g tortureGen) frame() []byte {
	vx := make([]byte, 8)
	vx[0] = 0x08
	if g.chance(0.1) {
		vx[0] = byte(g.r.UintN(256))
	}
	if g.chance(0.1) {
		vx[1], vx[7] = byte(g.r.UintN(256)), byte(g.r.UintN(256))
	}
	vx[4], vx[5], vx[6] = 0, 0, byte(1+g.r.UintN(50))
	udp := func(dport uint16, body []byte) []byte {
		u := g.bytes(8)
		binary.BigEndian.PutUint16(u[2:], dport)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(body)))
		return append(u, body...)
	}
	ports := []uint16{4789, 4789, 4789, 6081, 53, 8472}
	dport := ports[g.r.UintN(uint(len(ports)))]
	payload := append(vx, g.inner()...)
	if dport == 6081 {
		opt := int(g.r.UintN(4))
		gh := make([]byte, 8+opt*4)
		gh[0] = byte(opt)
		if g.chance(0.05) {
			gh[0] |= 0x40 // version 1
		}
		carried, _ := g.ip(g.chance(0.3), 17, udp(4789, payload))
		ptype := uint16(0x0800)
		if carried[0]>>4 == 6 {
			ptype = 0x86dd
		}
		if g.chance(0.3) {
			carried, ptype = append(g.eth(ptype), carried...), 0x6558
		}
		binary.BigEndian.PutUint16(gh[2:], ptype)
		payload = append(gh, carried...)
	}
	proto := uint8(17)
	if g.chance(0.05) {
		proto = 6
	}
	ipb, typ := g.ip(g.chance(0.3), proto, udp(dport, payload))
	return append(g.eth(typ), ipb...)
}

// mutate overwrites bytes (mostly in the first 160, where the headers
// are), cuts the frame, or both.
func (g tortureGen) mutate(f []byte) []byte {
	op := g.r.UintN(3)
	if op != 1 {
		for range 1 + g.r.UintN(4) {
			span := min(len(f), 160)
			if g.chance(0.2) {
				span = len(f)
			}
			f[g.r.UintN(uint(span))] = byte(g.r.UintN(256))
		}
	}
	if op != 0 {
		f = f[:g.r.UintN(uint(len(f)))]
	}
	return f
}

// tortureFrames yields n frames: a third whole, a third mutated, and the
// rest cuts of one frame at every offset.
func tortureFrames(seed uint64, n int, fn func(i int, f []byte)) {
	g := tortureGen{rand.New(rand.NewPCG(seed, 42))}
	for i := 0; i < n; {
		f := g.frame()
		switch g.r.UintN(3) {
		case 0:
			fn(i, f)
			i++
		case 1:
			fn(i, g.mutate(f))
			i++
		default:
			for cut := 0; cut <= len(f) && i < n; cut++ {
				fn(i, f[:cut])
				i++
			}
		}
	}
}

// tortureCount is VXTAP_TORTURE_N, else a count go test runs in seconds.
func tortureCount(t *testing.T) int {
	n := 20000
	if v := os.Getenv("VXTAP_TORTURE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("VXTAP_TORTURE_N=%q is not a positive count", v)
		}
	}
	if testing.Short() {
		n = min(n, 2000)
	}
	return n
}

// refHarness loads the default program (flow table of the given size) to
// be compared with the reference parser: the program, the reference's
// configuration, the reasons and flags in counter order, and the names of
// the shape flags (those the reference predicts).
func refHarness(t *testing.T, flows uint32) (*Objects, refparse.Config, []flow.Counter, []flow.Counter, map[string]bool) {
	t.Helper()
	cfg := DefaultConfig()
	if flows != 0 {
		cfg.FlowTableSize = flows
	}
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	reasons, flags, err := o.Counters()
	if err != nil {
		t.Fatal(err)
	}
	shape := map[string]bool{}
	for _, f := range flags {
		if f.Class == flow.ClassShape {
			shape[f.Name] = true
		}
	}
	return o, refparse.Config{VXLANPort: cfg.VXLANPort, GenevePort: cfg.GenevePort}, reasons, flags, shape
}

func TestTortureDifferential(t *testing.T) {
	testutil.RequirePrivileged(t)
	n := tortureCount(t)
	o, rcfg, reasons, flags, shape := refHarness(t, 1<<17)
	before := counterVector(t, o)
	failures, byReason := 0, map[string]int{}
	ncpu, sharedFrames := runtime.NumCPU(), 0
	tortureFrames(uint64(time.Now().UnixNano()), n, func(i int, f []byte) {
		if failures >= 20 {
			return
		}
		want := refparse.Parse(rcfg, f)
		var slotBefore, sharedBefore uint64
		var bk VxtapFlowKey
		var idx uint32
		haveSlot := false
		if want.Reason == "flow" {
			bk = keyToBPF(want.Key)
			if idx, haveSlot = o.index.Lookup(&bk); haveSlot {
				_, slotBefore = o.table.counts(idx)
				sharedBefore = sharedOf(o, idx).Bytes
			}
		}
		// Frame by frame on each CPU in turn: a flow's copies (the cuts
		// of one frame follow each other) reach its slot's owner and the
		// other CPUs, so both ways of counting are compared.
		var verdict uint32
		err := pinnedTo(i%ncpu, func() (err error) {
			verdict, err = o.RunPacket(f, time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		after := counterVector(t, o)
		var diffs []string
		if (verdict == XDPDrop) != want.Drop {
			diffs = append(diffs, fmt.Sprintf("verdict %d, reference drop=%v", verdict, want.Drop))
		}
		for j, r := range reasons {
			d := after[j] - before[j]
			exp := uint64(0)
			if r.Name == want.Reason {
				exp = 1
			}
			if d != exp {
				diffs = append(diffs, fmt.Sprintf("reason %s moved %d, reference says %s", r.Name, d, want.Reason))
			}
		}
		for j, fl := range flags {
			if !shape[fl.Name] {
				continue
			}
			d := after[len(reasons)+j] - before[len(reasons)+j]
			if (d == 1) != want.Flags[fl.Name] || d > 1 {
				diffs = append(diffs, fmt.Sprintf("flag %s moved %d, reference %v", fl.Name, d, want.Flags[fl.Name]))
			}
		}
		if want.Reason == "flow" {
			if !haveSlot {
				idx, haveSlot = o.index.Lookup(&bk)
			}
			if !haveSlot {
				diffs = append(diffs, fmt.Sprintf("no flow %s in the table", want.Key))
			} else if _, b := o.table.counts(idx); b-slotBefore != want.IPLen {
				diffs = append(diffs, fmt.Sprintf("flow %s gained %d bytes, reference %d", want.Key, b-slotBefore, want.IPLen))
			} else if sharedOf(o, idx).Bytes != sharedBefore {
				sharedFrames++ // counted by a CPU other than the slot's owner
			}
		}
		if len(diffs) > 0 {
			failures++
			t.Errorf("frame %d (%d bytes) %x:\n  %v", i, len(f), f, diffs)
		}
		byReason[want.Reason]++
		before = after
	})
	t.Logf("%d frames by reference reason: %v; %d flow frames counted by a CPU other than their slot's owner", n, byReason, sharedFrames)
	if ncpu > 1 && sharedFrames == 0 {
		t.Error("no flow was counted by a CPU other than its slot's owner: the shared counts went unchecked")
	}
	if len(byReason) < 15 {
		t.Errorf("the frames reached only %d reasons: %v", len(byReason), byReason)
	}
}

// counterVector reads every counter (reasons then flags), CPUs summed, in
// one batch.
func counterVector(t *testing.T, o *Objects) []uint64 {
	t.Helper()
	n := int(o.VxtapMaps.Counters.MaxEntries())
	out := make([]uint64, n)
	for i := 0; i < n; i++ {
		var per []VxtapCounter
		if err := o.VxtapMaps.Counters.Lookup(uint32(i), &per); err != nil {
			t.Fatal(err)
		}
		for _, c := range per {
			out[i] += c.Packets
		}
	}
	return out
}
