package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// lineAt is where one source line's code starts in a function's JIT
// image (byte offset from the function's start).
type lineAt struct {
	off  uint64
	loc  string // file:line
	text string // the source line
}

// jitFunc is one function of a loaded program's JIT image: where it
// lies in kernel memory and where each of its source lines' code starts.
type jitFunc struct {
	start, size uint64
	name        string
	lines       []lineAt // by offset
}

// at is the source line whose code holds byte off of f.
func (f *jitFunc) at(off uint64) (lineAt, bool) {
	i := sort.Search(len(f.lines), func(i int) bool { return f.lines[i].off > off })
	if i == 0 {
		return lineAt{}, false
	}
	return f.lines[i-1], true
}

// jitFuncs builds the functions of one loaded program from what the
// kernel reports of its JIT image: each function's start address, size
// and name (subprogram order), and each line info's address with its
// source.
func jitFuncs(starts, sizes []uint64, names []string, addrs []uint64, locs, texts []string) ([]*jitFunc, error) {
	if len(starts) != len(names) || len(starts) != len(sizes) || len(addrs) != len(locs) || len(locs) != len(texts) {
		return nil, fmt.Errorf("%d functions, %d sizes, %d names, %d line addresses, %d lines",
			len(starts), len(sizes), len(names), len(addrs), len(locs))
	}
	fs := make([]*jitFunc, len(starts))
	for i := range starts {
		fs[i] = &jitFunc{start: starts[i], size: sizes[i], name: names[i]}
	}
	for i, a := range addrs {
		for _, f := range fs {
			if a >= f.start && a < f.start+f.size {
				f.lines = append(f.lines, lineAt{off: a - f.start, loc: locs[i], text: texts[i]})
				break
			}
		}
	}
	for _, f := range fs {
		sort.SliceStable(f.lines, func(a, b int) bool { return f.lines[a].off < f.lines[b].off })
	}
	return fs, nil
}

// jitMap finds the function holding a kernel address, over every loaded
// program captured. An address range freed by one program and reused by
// a later one goes to the later (captured after it).
type jitMap struct {
	funcs []*jitFunc
}

// add takes in a program's functions; they replace any captured earlier
// that overlap them.
func (m *jitMap) add(fs []*jitFunc) {
	keep := m.funcs[:0]
	for _, old := range m.funcs {
		overlap := false
		for _, f := range fs {
			if old.start < f.start+f.size && f.start < old.start+old.size {
				overlap = true
				break
			}
		}
		if !overlap {
			keep = append(keep, old)
		}
	}
	m.funcs = append(keep, fs...)
	sort.Slice(m.funcs, func(a, b int) bool { return m.funcs[a].start < m.funcs[b].start })
}

// find is the function holding address ip, nil if none.
func (m *jitMap) find(ip uint64) *jitFunc {
	i := sort.Search(len(m.funcs), func(i int) bool { return m.funcs[i].start > ip })
	if i == 0 {
		return nil
	}
	if f := m.funcs[i-1]; ip < f.start+f.size {
		return f
	}
	return nil
}

// frameRE is one frame of a sample's call chain as `perf script -F ip,sym`
// prints it: the address, then the symbol.
var frameRE = regexp.MustCompile(`^\s*([0-9a-f]+)\s*(\S*)`)

// row is one source line's share of the samples: in the line's own code,
// or (via set) in a kernel function it calls (a helper: the time a
// helper call costs belongs to the line that makes it).
type row struct {
	loc, text, fn, via string
	n                  int
}

// profile is the samples of the programs, by source line.
type profile struct {
	total   int            // samples in the programs or in what they called
	byFunc  map[string]int // by function, what it called included
	rows    []row          // by source line, most samples first
	unknown int            // samples in the programs at no known line
	missed  int            // samples in a BPF program of no captured image
}

// aggregate reads the call chains perf script printed (a block of frames
// per sample, leaf first, blank lines between) and counts the samples
// taken in the functions of m, or in a kernel function called from one
// (counted at the calling line, under the callee's name), by source line.
func aggregate(r io.Reader, m *jitMap) (*profile, error) {
	p := &profile{byFunc: map[string]int{}}
	count := map[[4]string]int{}
	var chain [][2]string // the current sample's frames: address, symbol
	flush := func() {
		defer func() { chain = chain[:0] }()
		if len(chain) > 0 && strings.HasPrefix(chain[0][1], "bpf_prog_") {
			if ip, err := strconv.ParseUint(chain[0][0], 16, 64); err == nil && m.find(ip) == nil {
				p.missed++ // its image was not captured: the callers' frames would mislead
				return
			}
		}
		for i, fr := range chain {
			ip, err := strconv.ParseUint(fr[0], 16, 64)
			if err != nil {
				return
			}
			f := m.find(ip)
			if f == nil {
				continue
			}
			via := ""
			if i > 0 {
				ip-- // a return address: the call is the byte before it
				via = chain[i-1][1]
				if j := strings.IndexByte(via, '+'); j >= 0 {
					via = via[:j]
				}
			}
			p.total++
			p.byFunc[f.name]++
			l, ok := f.at(ip - f.start)
			if !ok {
				p.unknown++
				return
			}
			count[[4]string{l.loc, l.text, f.name, via}]++
			return
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if mm := frameRE.FindStringSubmatch(line); mm != nil {
			chain = append(chain, [2]string{mm[1], mm[2]})
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for k, n := range count {
		p.rows = append(p.rows, row{loc: k[0], text: k[1], fn: k[2], via: k[3], n: n})
	}
	sort.Slice(p.rows, func(a, b int) bool {
		if p.rows[a].n != p.rows[b].n {
			return p.rows[a].n > p.rows[b].n
		}
		return p.rows[a].loc+p.rows[a].via < p.rows[b].loc+p.rows[b].via
	})
	return p, nil
}

// write prints the profile: functions, then the top source lines.
func (p *profile) write(w io.Writer, top int) {
	if p.total == 0 {
		fmt.Fprintln(w, "no samples in the program")
		return
	}
	fmt.Fprintf(w, "%d samples in the program (and the kernel functions it called)\n\nby function:\n", p.total)
	fns := make([]string, 0, len(p.byFunc))
	for f := range p.byFunc {
		fns = append(fns, f)
	}
	sort.Slice(fns, func(a, b int) bool { return p.byFunc[fns[a]] > p.byFunc[fns[b]] })
	for _, f := range fns {
		fmt.Fprintf(w, "%6.1f%%  %s\n", 100*float64(p.byFunc[f])/float64(p.total), f)
	}
	fmt.Fprintf(w, "\nby source line (top %d):\n", top)
	for i, r := range p.rows {
		if i == top {
			break
		}
		text := r.text
		if r.via != "" {
			text = "[in " + r.via + "] " + text
		}
		fmt.Fprintf(w, "%6.1f%%  %-24s %-14s %s\n", 100*float64(r.n)/float64(p.total), r.loc, r.fn, text)
	}
	if p.missed > 0 {
		fmt.Fprintf(w, "(%d samples in BPF programs whose image was not captured, left out)\n", p.missed)
	}
	if p.unknown > 0 {
		fmt.Fprintf(w, "%6.1f%%  (no line)\n", 100*float64(p.unknown)/float64(p.total))
	}
}
