package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// cell is one receiver in one mode over its repetitions.
type cell struct {
	Mode       string  `json:"mode"`
	Receiver   string  `json:"receiver"`
	Runs       int     `json:"runs"`
	Mpps       float64 `json:"mpps_median"`
	MppsMin    float64 `json:"mpps_min"`
	MppsMax    float64 `json:"mpps_max"`
	RxMpps     float64 `json:"rx_mpps_median"`
	VsTouch    float64 `json:"vs_touch"` // median Mpps / touch's median Mpps in the same mode (0: no touch runs)
	ExactRuns  int     `json:"exact_runs"`
	Offered    uint64  `json:"offered_median"`
	Received   uint64  `json:"received_median"`
	Lost       uint64  `json:"lost_median"`
	CPUBusy    float64 `json:"cpu_busy_s_median"`
	CPUProc    float64 `json:"cpu_proc_s_median"`
	NsPerPkt   float64 `json:"ns_per_pkt_median"`
	CPUPerMpkt float64 `json:"cpu_s_per_mpkt"` // busy CPU seconds per million accounted packets
}

// machine is what the figures were measured on.
type machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Kernel string `json:"kernel"`
}

// summary is the report of one CSV.
type summary struct {
	Machine machine `json:"machine"`
	Command string  `json:"command,omitempty"`
	Cells   []cell  `json:"cells"`
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// summarize groups runs by mode and receiver (receivers in run order).
func summarize(rows []result, m machine, command string) summary {
	order := map[string]int{}
	for i, r := range receiverSpecs {
		order[r.name] = i
	}
	groups := map[[2]string][]result{}
	for _, r := range rows {
		k := [2]string{r.Mode, r.Receiver}
		groups[k] = append(groups[k], r)
	}
	s := summary{Machine: m, Command: command}
	for k, rs := range groups {
		c := cell{Mode: k[0], Receiver: k[1], Runs: len(rs)}
		f := func(get func(result) float64) []float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = get(r)
			}
			sort.Float64s(v)
			return v
		}
		mpps := f(func(r result) float64 { return r.Mpps })
		c.Mpps, c.MppsMin, c.MppsMax = median(mpps), mpps[0], mpps[len(mpps)-1]
		c.RxMpps = median(f(func(r result) float64 { return r.RxMpps }))
		c.Offered = uint64(median(f(func(r result) float64 { return float64(r.Offered) })))
		c.Received = uint64(median(f(func(r result) float64 { return float64(r.Received) })))
		c.Lost = uint64(median(f(func(r result) float64 { return float64(r.Lost) })))
		c.CPUBusy = median(f(func(r result) float64 { return r.CPUBusy }))
		c.CPUProc = median(f(func(r result) float64 { return r.CPUProc }))
		c.NsPerPkt = median(f(func(r result) float64 { return r.NsPerPkt }))
		c.CPUPerMpkt = median(f(func(r result) float64 {
			if r.Accounted == 0 {
				return 0
			}
			return (r.CPUBusy + r.CPUProc) / float64(r.Accounted) * 1e6
		}))
		for _, r := range rs {
			if r.Exact {
				c.ExactRuns++
			}
		}
		s.Cells = append(s.Cells, c)
	}
	sort.Slice(s.Cells, func(i, j int) bool {
		a, b := s.Cells[i], s.Cells[j]
		if a.Mode != b.Mode {
			return a.Mode < b.Mode
		}
		return order[a.Receiver] < order[b.Receiver]
	})
	for i, c := range s.Cells {
		for _, t := range s.Cells {
			if t.Mode == c.Mode && t.Receiver == "touch" && t.Mpps > 0 {
				s.Cells[i].VsTouch = c.Mpps / t.Mpps
			}
		}
	}
	return s
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// markdown is the generated table with its caption.
func (s summary) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %d CPUs, %s, kernel %s.", s.Machine.CPUs, s.Machine.Model, s.Machine.Kernel)
	if s.Command != "" {
		fmt.Fprintf(&b, " Measured with `%s`.", s.Command)
	}
	b.WriteString(" Medians of the repetitions; min–max is the spread. Mpps = packets the receiver accounted / generator time.\n\n")
	b.WriteString("| mode | receiver | runs | Mpps (median) | min–max | × touch | received Mpps | received / offered | exact runs | lost (median) | busy CPU s | process CPU s | CPU s per M pkts | in-kernel ns/pkt |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range s.Cells {
		ns := "–"
		if c.NsPerPkt > 0 {
			ns = fmt.Sprintf("%.0f", c.NsPerPkt)
		}
		vs := "–"
		if c.VsTouch > 0 {
			vs = fmt.Sprintf("%.2f", c.VsTouch)
		}
		share := 0.0
		if c.Offered > 0 {
			share = float64(c.Received) / float64(c.Offered) * 100
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f–%.2f | %s | %.2f | %.0f%% | %d/%d | %d | %.2f | %.2f | %.2f | %s |\n",
			c.Mode, c.Receiver, c.Runs, c.Mpps, c.MppsMin, c.MppsMax, vs, c.RxMpps, share, c.ExactRuns, c.Runs, c.Lost,
			c.CPUBusy, c.CPUProc, c.CPUPerMpkt, ns)
	}
	return b.String()
}

func (s summary) writeJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// The generated part of docs/PERFORMANCE.md sits between these lines.
const (
	markBegin = "<!-- bench-live:begin (generated by benchlive report) -->"
	markEnd   = "<!-- bench-live:end -->"
)

// replaceBetweenMarkers puts text between the bench-live markers of a
// Markdown file.
func replaceBetweenMarkers(path, text string) error {
	return replaceBetween(path, markBegin, markEnd, text)
}

// replaceBetween puts text between the lines begin and end of a file.
func replaceBetween(path, begin, end, text string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i, j := bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q lines to replace between", path, begin, end)
	}
	var out bytes.Buffer
	out.Write(b[:i+len(begin)])
	out.WriteString("\n")
	out.WriteString(text)
	out.Write(b[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
