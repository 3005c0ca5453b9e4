package topview

import (
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/detect"
)

// FindingsTable: latest first, remote from each action kind, ages,
// --n, and every line within the width.
func TestFindingsTable(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	nic := detect.Resource{InstanceDetails: detect.InstanceDetails{NetworkInterfaces: []detect.NetworkInterface{{PrivateIPAddress: "198.18.1.10"}}}}
	fs := []detect.Finding{
		{ID: "a", Type: detect.TypeDNSExfil, Severity: 8, UpdatedAt: now.Add(-time.Hour), Resource: nic,
			Service: detect.Service{Count: 30, ResourceRole: detect.Actor, EventLastSeen: now.Add(-3 * time.Hour),
				Action: detect.Action{DNSRequestAction: &detect.DNSRequestAction{Domain: "x.example"}}}},
		{ID: "b", Type: detect.TypePortProbe, Severity: 2, UpdatedAt: now, Resource: nic,
			Service: detect.Service{Count: 1, ResourceRole: detect.Target, EventLastSeen: now.Add(-20 * time.Second),
				Action: detect.Action{PortProbeAction: &detect.PortProbeAction{PortProbeDetails: []detect.PortProbeDetail{{RemoteIPDetails: &detect.IPDetails{IPAddressV6: "2001:db8::5"}}}}}}},
		{ID: "c", Type: detect.TypeMaliciousIP, Severity: 9.5, UpdatedAt: now.Add(-time.Minute),
			Service: detect.Service{Count: 2, ResourceRole: detect.Actor}},
	}
	tab := FindingsTable(fs, now, 0, 0)
	if tab.Title[0] != "findings: 3 (Critical 1, High 1, Low 1)" {
		t.Errorf("title %q", tab.Title[0])
	}
	want := [][]string{
		{"Low", "2.0", detect.TypePortProbe, "TARGET", "198.18.1.10", "2001:db8::5", "1", "20s ago"},
		{"Critical", "9.5", detect.TypeMaliciousIP, "ACTOR", "-", "-", "2", "-"},
		{"High", "8.0", detect.TypeDNSExfil, "ACTOR", "198.18.1.10", "x.example", "30", "3h ago"},
	}
	if len(tab.Rows) != 3 {
		t.Fatalf("rows %q", tab.Rows)
	}
	for i, w := range want {
		if got := strings.Fields(tab.Rows[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d: %q, want %q", i, got, w)
		}
	}
	tab = FindingsTable(fs, now, 1, 40)
	if len(tab.Rows) != 1 || !strings.HasPrefix(tab.Rows[0], "Low") {
		t.Errorf("--n 1: %q, want the latest (the probe) only", tab.Rows)
	}
	if full := FindingsTable(fs, now, 1, 0); !strings.HasSuffix(full.Title[0], ", latest 1 shown") {
		t.Errorf("--n 1 title %q", full.Title[0])
	}
	for _, l := range append(append(tab.Title, tab.Columns), tab.Rows...) {
		if len([]rune(l)) > 40 {
			t.Errorf("line wider than 40: %q", l)
		}
	}
	if e := FindingsTable(nil, now, 0, 80); e.Title[0] != "findings: 0" || len(e.Rows) != 0 {
		t.Errorf("no findings: %q %q", e.Title, e.Rows)
	}
}
