// Package report prints flow tables and counters: a table for people, TSV
// in the corpus ground-truth layout, and JSON lines for machines.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/vxtap/vxtap/userspace/flow"
)

// Total is a flow's records summed.
type Total struct {
	flow.Key
	MirrorSource string
	Packets      uint64
	Bytes        uint64
	TCPFlags     uint8
	Records      int
	// Overflow: the packets or bytes of its records sum past 2^64-1; the
	// sum stops there instead of wrapping round to a small number.
	Overflow bool
}

// Sum folds records into one total per flow.
func Sum(records []flow.Record) []Total {
	idx := map[flow.Key]int{}
	var out []Total
	for _, r := range records {
		k := r.Key()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Total{Key: k, MirrorSource: addrOrDash(r.MirrorSource.String())})
		}
		t := &out[i]
		var cp, cb uint64
		t.Packets, cp = bits.Add64(t.Packets, r.Packets, 0)
		t.Bytes, cb = bits.Add64(t.Bytes, r.Bytes, 0)
		if cp != 0 {
			t.Packets = math.MaxUint64
		}
		if cb != 0 {
			t.Bytes = math.MaxUint64
		}
		t.Overflow = t.Overflow || cp != 0 || cb != 0
		t.TCPFlags |= r.TCPFlags
		t.Records++
	}
	return out
}

// Overflows names every flow whose sums overflowed, nil if none did.
func Overflows(ts []Total) error {
	var errs []error
	for _, t := range ts {
		if t.Overflow {
			errs = append(errs, fmt.Errorf("flow vni %d %s %s -> %s: packets or bytes of its %d records sum past 2^64-1 (shown as 18446744073709551615)",
				t.VNI, ProtoName(t.Proto), Endpoint(t.Src.String(), t.SPort, t.Proto), Endpoint(t.Dst.String(), t.DPort, t.Proto), t.Records))
		}
	}
	return errors.Join(errs...)
}

func addrOrDash(s string) string {
	if s == "invalid IP" {
		return "-"
	}
	return s
}

// KeyLess orders flow keys as the corpus truth files are: VNI, source and
// destination as strings (C locale), protocol, ports as numbers.
func KeyLess(a, b flow.Key) bool {
	if a.VNI != b.VNI {
		return a.VNI < b.VNI
	}
	if s1, s2 := a.Src.String(), b.Src.String(); s1 != s2 {
		return s1 < s2
	}
	if d1, d2 := a.Dst.String(), b.Dst.String(); d1 != d2 {
		return d1 < d2
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	if a.SPort != b.SPort {
		return a.SPort < b.SPort
	}
	return a.DPort < b.DPort
}

// SortTruth orders totals in the truth-file order.
func SortTruth(ts []Total) {
	sort.Slice(ts, func(i, j int) bool { return KeyLess(ts[i].Key, ts[j].Key) })
}

// TruthHeader is the first line of a corpus *.truth.tsv file.
const TruthHeader = "#vni\tsrc\tdst\tproto\tsport\tdport\tpackets\tbytes"

// WriteTSV prints totals in the corpus truth layout.
func WriteTSV(w io.Writer, ts []Total) error {
	SortTruth(ts)
	var b strings.Builder
	b.WriteString(TruthHeader + "\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", t.VNI, t.Src, t.Dst, t.Proto, t.SPort, t.DPort, t.Packets, t.Bytes)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTable prints totals for people, heaviest first.
func WriteTable(w io.Writer, ts []Total) error {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Bytes > ts[j].Bytes })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VNI\tMIRROR SOURCE\tSOURCE\tDESTINATION\tPROTO\tPACKETS\tBYTES\tTCP FLAGS\t")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t\n", t.VNI, t.MirrorSource,
			Endpoint(t.Src.String(), t.SPort, t.Proto), Endpoint(t.Dst.String(), t.DPort, t.Proto),
			ProtoName(t.Proto), t.Packets, t.Bytes, TCPFlags(t.TCPFlags))
	}
	return tw.Flush()
}

// WriteJSON prints records as JSON lines.
func WriteJSON(w io.Writer, records []flow.Record) error {
	enc := json.NewEncoder(w)
	for _, r := range records {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// WriteCounters prints the named counters that are not zero.
func WriteCounters(w io.Writer, title string, cs []flow.Counter) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tPACKETS\tBYTES\t\n", strings.ToUpper(title))
	for _, c := range cs {
		if c.Packets != 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", c.Name, c.Packets, c.Bytes)
		}
	}
	return tw.Flush()
}

// Endpoint formats an address with its port where the protocol has ports.
func Endpoint(addr string, port uint16, proto uint8) string {
	if proto != 6 && proto != 17 {
		return addr
	}
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// ProtoName names the common IP protocols.
func ProtoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 2:
		return "igmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 58:
		return "icmpv6"
	case 132:
		return "sctp"
	}
	return fmt.Sprintf("%d", p)
}

// TCPFlags spells a flags byte tcpdump-style (F S R P A U E C), "-" for none.
func TCPFlags(f uint8) string {
	if f == 0 {
		return "-"
	}
	const names = "FSRPAUEC"
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			b.WriteByte(names[i])
		}
	}
	return b.String()
}
