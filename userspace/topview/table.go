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
	cell  func(r *Row) string
}

func columns(g Group) []column {
	cols := []column{{name: "VNI", right: true, cell: func(r *Row) string { return optNum(r.VNI) }}}
	if g == GroupMirror {
		cols = append(cols, column{name: "MIRROR SOURCE", addr: true, cell: func(r *Row) string { return addr(r.MirrorSource) }})
	}
	cols = append(cols,
		column{name: "SOURCE", addr: true, cell: func(r *Row) string { return addr(r.Src) }},
		column{name: "DESTINATION", addr: true, cell: func(r *Row) string { return addr(r.Dst) }},
		column{name: "PROTO", cell: func(r *Row) string {
			if r.Proto == nil {
				return "*"
			}
			return report.ProtoName(*r.Proto)
		}},
		column{name: "PORTS", cell: ports},
		column{name: "DIR", cell: func(r *Row) string { return r.Direction }},
	)
	if g != GroupFlow {
		cols = append(cols, column{name: "FLOWS", right: true, cell: func(r *Row) string { return strconv.Itoa(r.Flows) }})
	}
	return append(cols,
		column{name: "PKT/S", right: true, cell: func(r *Row) string { return PacketRate(r.PacketsPerSecond) }},
		column{name: "BITS/S", right: true, cell: func(r *Row) string { return BitRate(r.BitsPerSecond) }},
		column{name: "BYTES", right: true, cell: func(r *Row) string { return ByteSize(r.Bytes) }},
	)
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
	cols := columns(res.Group)
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
	if width > 0 {
		fitAddresses(cols, w, width)
	}
	line := func(vals []string) string {
		var b strings.Builder
		for i, c := range cols {
			v := shorten(vals[i], w[i])
			pad := strings.Repeat(" ", max(0, w[i]-utf8.RuneCountInString(v)))
			if i > 0 {
				b.WriteString("  ")
			}
			if c.right {
				b.WriteString(pad + v)
			} else if i < len(cols)-1 {
				b.WriteString(v + pad)
			} else {
				b.WriteString(v)
			}
		}
		return cut(b.String(), width)
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

// fitAddresses narrows the address columns, evenly, until the line fits.
func fitAddresses(cols []column, w []int, width int) {
	total := 2 * (len(cols) - 1)
	var addrCols []int
	for i, c := range cols {
		total += w[i]
		if c.addr {
			addrCols = append(addrCols, i)
		}
	}
	const minAddr = 9
	for total > width {
		widest := -1
		for _, i := range addrCols {
			if w[i] > minAddr && (widest < 0 || w[i] > w[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			return
		}
		w[widest]--
		total--
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
