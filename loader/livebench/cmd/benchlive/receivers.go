package main

import (
	"fmt"
	"strings"

	"github.com/vxtap/vxtap/loader/livebench"
)

// receiver is one thing measured at the receiving veth.
type receiver interface {
	// start attaches or starts it, before the generator runs.
	start(l *livebench.Lab) error
	// finish stops it after the generator has run and says what it
	// accounted.
	finish(l *livebench.Lab) (account, error)
}

// tailFlusher is a receiver that needs filler frames (to fillerPort, not
// counted) after a run to see the run's last frames.
type tailFlusher interface{ flushTail() bool }

// fillerPort is the outer UDP destination port of the filler frames.
const fillerPort = 4790

// fillerFrames is how many: more than a libpcap ring block holds.
const fillerFrames = 20000

// account is what a receiver reports after a run.
type account struct {
	packets uint64  // packets it accounted (records, counters, captures)
	dropped uint64  // packets it says it lost (tcpdump's kernel drops, ...)
	procCPU float64 // CPU seconds of its userspace process, 0 if none
	// iface: the receiver counts nothing itself (XDP_DROP); what the
	// interface received is its account.
	iface bool
	note  string
}

// receiverSpec names a receiver and the traffic it is measured with.
type receiverSpec struct {
	name  string
	about string
	flood bool // offered a new-flow flood instead of the common traffic
	make  func(s *settings) receiver
}

// receiverSpecs is every receiver the benchmark knows, in run order.
var receiverSpecs = []receiverSpec{
	{name: "drop", about: "XDP_DROP: touches nothing (the ceiling)",
		make: func(*settings) receiver { return &baseline{name: "drop"} }},
	{name: "touch", about: "parses outer and inner headers to the ports, one per-CPU counter, drops (the floor)",
		make: func(*settings) receiver { return &baseline{name: "touch"} }},
	{name: "flow-floor", about: "touch, then the least exact per-flow counting pays: a hash, one 64-byte line of a per-CPU direct-mapped table, a key compare, two adds (a reference, not an analyzer)",
		make: func(*settings) receiver { return &baseline{name: "flow-floor"} }},
	{name: "flow-map", about: "touch, then each flow counted in the kernel's per-CPU hash map, as the usual eBPF flow meter does (a reference, not an analyzer)",
		make: func(*settings) receiver { return &baseline{name: "flow-map"} }},
	{name: "vxtap", about: "vxtap run, defaults",
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "defaults"} }},
	{name: "vxtap-4096", about: "vxtap run --config with 4,096 rules per direction, the last one deciding (sessions name the source ENI)",
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "rules"} }},
	{name: "vxtap-sample64", about: "vxtap run --sample-rate 64 --sample-file",
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "sample"} }},
	{name: "vxtap-decap", about: "vxtap run --decap-to create:NAME: every copy also decapsulated and redirected to a veth (the IDS feed)",
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "decap"} }},
	{name: "vxtap-capture", about: "vxtap run with a `vxtap capture -w /dev/null` of every accounted copy running (the Wireshark case)",
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "capture"} }},
	{name: "vxtap-newflows", about: "vxtap run, every frame a new flow (a SYN flood on a mirrored instance)", flood: true,
		make: func(s *settings) receiver { return &vxtapRx{s: s, variant: "flood"} }},
	{name: "flow-map-newflows", about: "flow-map offered the same flood, its map sized for every flow (a reference: the kernel's hash map insert per new flow, no record sent)", flood: true,
		make: func(s *settings) receiver { return &baseline{name: "flow-map", flows: s.floodFrames} }},
	{name: "tcpdump", about: "tcpdump -w /dev/null, no XDP: frames reach the stack",
		make: func(s *settings) receiver { return &tcpdumpRx{s: s} }},
	{name: "softflowd", about: "softflowd exporting NetFlow v9 to nfcapd, no XDP",
		make: func(s *settings) receiver { return &softflowdRx{s: s} }},
}

// pickReceivers resolves a comma-separated list ("all" = every one).
func pickReceivers(list string) ([]receiverSpec, error) {
	if list == "all" {
		return receiverSpecs, nil
	}
	var out []receiverSpec
	for _, name := range strings.Split(list, ",") {
		i := len(receiverSpecs)
		for j, r := range receiverSpecs {
			if r.name == strings.TrimSpace(name) {
				i = j
			}
		}
		if i == len(receiverSpecs) {
			var names []string
			for _, r := range receiverSpecs {
				names = append(names, r.name)
			}
			return nil, fmt.Errorf("flag --receivers: no receiver %q (have %s, or all)", name, strings.Join(names, ","))
		}
		out = append(out, receiverSpecs[i])
	}
	return out, nil
}

// baseline is one of livebench.Baselines, attached by this process.
type baseline struct {
	name  string
	flows uint64 // flow-map: room for this many flows (0: the object's own size)
	r     *livebench.Receiver
}

func (b *baseline) start(l *livebench.Lab) error {
	return livebench.InNetns(livebench.NSPath(l.RxNS), -1, func() (err error) {
		b.r, err = livebench.AttachBaseline(b.name, l.RxIndex, b.flows)
		return err
	})
}

func (b *baseline) finish(l *livebench.Lab) (account, error) {
	defer b.r.Close()
	parsed, other, ok, err := b.r.Accounted()
	if err != nil {
		return account{}, err
	}
	if !ok {
		return account{iface: true}, nil
	}
	return account{packets: parsed, dropped: other, note: "dropped = frames it could not parse"}, nil
}
