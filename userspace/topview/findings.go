package topview

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vxtap/vxtap/userspace/detect"
)

// FindingsTable lays out findings for the findings pane of `vxtap top`
// and `vxtap top --once --findings`: the most recently updated first, at
// most n rows (0: all), every line cut to width (0: no limit). Last seen
// is an age from now.
func FindingsTable(fs []detect.Finding, now time.Time, n, width int) Table {
	sorted := append([]detect.Finding(nil), fs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].UpdatedAt.Equal(sorted[j].UpdatedAt) {
			return sorted[i].UpdatedAt.After(sorted[j].UpdatedAt)
		}
		return sorted[i].ID < sorted[j].ID
	})
	by := map[string]int{}
	for _, f := range sorted {
		by[detect.SeverityLabel(f.Severity)]++
	}
	title := fmt.Sprintf("findings: %d", len(sorted))
	if len(sorted) > 0 {
		var parts []string
		for _, l := range []string{"Critical", "High", "Medium", "Low"} {
			if by[l] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", l, by[l]))
			}
		}
		title += " (" + strings.Join(parts, ", ") + ")"
	}
	if n > 0 && len(sorted) > n {
		title += fmt.Sprintf(", latest %d shown", n)
		sorted = sorted[:n]
	}
	names := []string{"SEVERITY", "TYPE", "ROLE", "LOCAL", "REMOTE", "COUNT", "LAST SEEN"}
	right := []bool{false, false, false, false, false, true, true}
	cells := make([][]string, len(sorted))
	w := make([]int, len(names))
	for i, s := range names {
		w[i] = len(s)
	}
	for r := range sorted {
		f := &sorted[r]
		local, remote := findingSides(f)
		cells[r] = []string{
			fmt.Sprintf("%-8s %4.1f", detect.SeverityLabel(f.Severity), f.Severity), f.Type, string(f.Service.ResourceRole),
			local, remote, strconv.Itoa(f.Service.Count), age(now, f.Service.EventLastSeen),
		}
		for i, c := range cells[r] {
			w[i] = max(w[i], len(c))
		}
	}
	line := func(vals []string) string {
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(strings.Repeat(" ", w[i]-len(v)) + v)
			} else if i < len(vals)-1 {
				b.WriteString(v + strings.Repeat(" ", w[i]-len(v)))
			} else {
				b.WriteString(v)
			}
		}
		return cutTo(b.String(), width)
	}
	t := Table{Title: []string{cutTo(title, width)}, Columns: line(names)}
	for _, c := range cells {
		t.Rows = append(t.Rows, line(c))
	}
	return t
}

// findingSides is the instance's address and the other side (an address,
// or the DNS name asked for), "-" when the finding has none.
func findingSides(f *detect.Finding) (local, remote string) {
	local, remote = "-", "-"
	if nis := f.Resource.InstanceDetails.NetworkInterfaces; len(nis) > 0 && nis[0].PrivateIPAddress != "" {
		local = nis[0].PrivateIPAddress
	}
	a := f.Service.Action
	switch {
	case a.NetworkConnectionAction != nil:
		if r := a.NetworkConnectionAction.RemoteIPDetails.Addr(); r.IsValid() {
			remote = r.String()
		}
	case a.PortProbeAction != nil && len(a.PortProbeAction.PortProbeDetails) > 0:
		if r := a.PortProbeAction.PortProbeDetails[0].RemoteIPDetails.Addr(); r.IsValid() {
			remote = r.String()
		}
	case a.DNSRequestAction != nil:
		remote = a.DNSRequestAction.Domain
	}
	return local, remote
}

// age is how long ago t was, in the largest whole unit ("-" when unset).
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// cutTo cuts s to width runes (0: no limit).
func cutTo(s string, width int) string {
	if r := []rune(s); width > 0 && len(r) > width {
		return string(r[:width])
	}
	return s
}
