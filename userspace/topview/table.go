package topview

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vxtap/vxtap/userspace/report"
)

// Table is a rendered result: the TUI styles each part, --once prints
// them as they are.
type Table struct {
	Title   []string // what the view shows and the totals
	Columns string   // the column names
	Rows    []string // one line per row
}

// String joins the parts, one line each.
func (t Table) String() string {
	var b strings.Builder
	for _, l := range t.Title {
		b.WriteString(l + "\n")
	}
	b.WriteString(t.Columns + "\n")
	for _, l := range t.Rows {
		b.WriteString(l + "\n")
	}
	return b.String()
}

type column struct {
	name  string
	right bool // numbers align right
	addr  bool // may be shortened to fit the width
	drop  int  // left out when the width is short: highest first, 0 never
	cell  func(r *Row) string
}

// columns lists the table's columns for a grouping and sort order.
func columns(g Group, by Sort) []column {
	cols := []column{{name: "VNI", drop: 4, cell: vniCell}} // left: "101 web-1"
	if g == GroupMirror {
		cols = append(cols, column{name: "MIRROR SOURCE", addr: true, cell: func(r *Row) string { return addr(r.MirrorSource) }})
	}
	cols = append(cols,
		column{name: "SOURCE", addr: true, cell: func(r *Row) string { return addr(r.Src) }},
		column{name: "DESTINATION", addr: true, cell: func(r *Row) string { return addr(r.Dst) }},
		column{name: "PROTO", drop: 2, cell: func(r *Row) string {
			if r.Proto == nil {
				return "*"
			}
			return report.ProtoName(*r.Proto)
		}},
		column{name: "PORTS", drop: 1, cell: ports},
		column{name: "DIR", drop: 7, cell: func(r *Row) string { return r.Direction }},
	)
	if g != GroupFlow {
		cols = append(cols, column{name: "FLOWS", right: true, drop: 6, cell: func(r *Row) string { return strconv.Itoa(r.Flows) }})
	}
	pkts := column{name: "PKT/S", right: true, drop: 3, cell: func(r *Row) string { return PacketRate(r.PacketsPerSecond) }}
	bytes := column{name: "BYTES", right: true, drop: 5, cell: func(r *Row) string { return ByteSize(r.Bytes) }}
	switch by { // the column the rows are sorted by stays
	case SortPackets:
		pkts.drop = 0
	case SortBytes:
		bytes.drop = 0
	}
	return append(cols, pkts,
		column{name: "BITS/S", right: true, cell: func(r *Row) string { return BitRate(r.BitsPerSecond) }},
		bytes)
}

// fleet says whether rows carry the appliances that saw them.
func fleet(res *Result) bool {
	for i := range res.Rows {
		if len(res.Rows[i].Appliances) > 0 {
			return true
		}
	}
	return false
}

// vniCell is the VNI and, when it has one, its session's name.
func vniCell(r *Row) string {
	if r.Session == "" {
		return optNum(r.VNI)
	}
	return optNum(r.VNI) + " " + r.Session
}

func optNum[T uint8 | uint16 | uint32](v *T) string {
	if v == nil {
		return "*"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

// addr prints an address (IPv6 in its RFC 5952 short form), "*" when the
// group's flows differ in it.
func addr(a netip.Addr) string {
	if !a.IsValid() {
		return "*"
	}
	return a.Unmap().String()
}

func ports(r *Row) string {
	if r.Proto != nil && !hasPorts(*r.Proto) {
		return "-"
	}
	return optNum(r.SPort) + " -> " + optNum(r.DPort)
}

// Render lays a result out for a terminal width columns wide (0: no
// limit). Addresses are shortened in the middle when the table would not
// fit, and every line is cut to the width, so a terminal never wraps.
func Render(res *Result, width int) Table {
	t := Table{Title: titleLines(res)}
	cols := columns(res.Group, res.Sort)
	if fleet(res) { // the fleet view: which appliances saw each row
		cols = append(cols[:len(cols):len(cols)], column{name: "APPLIANCES", drop: 8, cell: func(r *Row) string {
			return strings.Join(r.Appliances, ",")
		}})
	}
	cells := make([][]string, len(res.Rows))
	w := make([]int, len(cols))
	for i, c := range cols {
		w[i] = len(c.name)
	}
	for r := range res.Rows {
		cells[r] = make([]string, len(cols))
		for i, c := range cols {
			cells[r][i] = c.cell(&res.Rows[r])
			w[i] = max(w[i], len(cells[r][i]))
		}
	}
	show := make([]bool, len(cols))
	for i := range show {
		show[i] = true
	}
	if width > 0 {
		fit(cols, w, show, width)
	}
	line := func(vals []string) string {
		var b strings.Builder
		last := len(cols) - 1
		for last > 0 && !show[last] {
			last--
		}
		for i, c := range cols {
			if !show[i] {
				continue
			}
			v := shorten(vals[i], w[i])
			pad := strings.Repeat(" ", max(0, w[i]-utf8.RuneCountInString(v)))
			if b.Len() > 0 {
				b.WriteString("  ")
			}
			switch {
			case c.right:
				b.WriteString(pad + v)
			case i < last:
				b.WriteString(v + pad)
			default:
				b.WriteString(v)
			}
		}
		return strings.TrimRight(cut(b.String(), width), " ")
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	t.Columns = line(names)
	for _, r := range cells {
		t.Rows = append(t.Rows, line(r))
	}
	if len(res.Rows) == 0 {
		msg := "(no flows in the table)"
		if res.Header.Flows > 0 {
			msg = "(no flow matches the filter)"
		}
		t.Rows = append(t.Rows, msg)
	}
	for i := range t.Title {
		t.Title[i] = cut(t.Title[i], width)
	}
	return t
}

// minAddr keeps every IPv4 address whole; only IPv6 is shortened.
const minAddr = len("255.255.255.255")

// fit makes the table fit the width: first IPv6 addresses are shortened
// in the middle, down to the width of an IPv4 address, then the least
// useful columns are left out (direction, flows, bytes, VNI, packets/s,
// protocol, ports; never the addresses, bits/s or the sort column).
func fit(cols []column, w []int, show []bool, width int) {
	total := func() int {
		n := 0
		for i := range cols {
			if show[i] {
				n += w[i] + 2
			}
		}
		return n - 2
	}
	for total() > width {
		widest := -1
		for i, c := range cols {
			if c.addr && w[i] > minAddr && (widest < 0 || w[i] > w[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		w[widest]--
	}
	for total() > width {
		drop := -1
		for i, c := range cols {
			if show[i] && c.drop > 0 && (drop < 0 || c.drop > cols[drop].drop) {
				drop = i
			}
		}
		if drop < 0 {
			return
		}
		show[drop] = false
	}
}

// shorten keeps the start and the end of s, with "…" in between, so an
// IPv6 address keeps its prefix and its host part.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n || n < 3 {
		return s
	}
	head := n / 2
	tail := n - 1 - head
	return s[:head] + "…" + s[len(s)-tail:]
}

// cut ends a line at width runes (0: no limit).
func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	return string([]rune(s)[:width])
}

func titleLines(res *Result) []string {
	h := &res.Header
	where := res.Iface
	if where == "" {
		where = "-"
	}
	if res.Source != "" {
		where += " (" + res.Source + ")"
	}
	filter := res.Filter
	if filter == "" {
		filter = "none"
	}
	shown := fmt.Sprintf("%d", len(res.Rows))
	l1 := fmt.Sprintf("vxtap top  %s  sort: %s  group: %s  filter: %s  %s", where, res.Sort, res.Group.Title(), filter,
		res.At.Local().Format("15:04:05"))
	l2 := fmt.Sprintf("flows %d (matched %d, groups %d, shown %s)  total %s  %s pkt/s  %s", h.Flows, h.Matched, h.Groups, shown,
		BitRate(h.BitsPerSecond), PacketRate(h.PacketsPerSecond), ByteSize(h.Bytes))
	if h.IntervalSeconds == 0 {
		l2 += "  (rates from the next sweep)"
	}
	l3 := "data path counters unavailable"
	if d := h.Datapath; d != nil {
		l3 = fmt.Sprintf("mirror %s pkt/s  drops %d (%s/s)  ring buffer lost %d", PacketRate(d.MirrorPacketsPerSecond),
			d.Drops, PacketRate(d.DropsPerSecond), d.RingLost)
	}
	lines := []string{l1, l2, l3}
	if res.Note != "" {
		lines = append(lines, res.Note)
	}
	return lines
}
