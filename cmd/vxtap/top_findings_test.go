package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/api/apitest"
	"github.com/vxtap/vxtap/userspace/detect"
)

// labFinding is a finding as the daemon's store would hold it.
func labFinding(id, typ string, sev float64, role detect.Role, local, remote string, count int, last time.Time) detect.Finding {
	nc := &detect.NetworkConnectionAction{ConnectionDirection: detect.Outbound, RemoteIPDetails: &detect.IPDetails{IPAddressV4: remote}, Protocol: "TCP"}
	if strings.Contains(remote, ":") {
		nc.RemoteIPDetails = &detect.IPDetails{IPAddressV6: remote}
	}
	return detect.Finding{ID: id, Type: typ, Severity: sev, UpdatedAt: last, CreatedAt: last.Add(-time.Minute),
		Resource: detect.Resource{ResourceType: "Instance", InstanceDetails: detect.InstanceDetails{
			NetworkInterfaces: []detect.NetworkInterface{{NetworkInterfaceID: "eni-0a1", PrivateIPAddress: local}}}},
		Service: detect.Service{ServiceName: "vxtap", Count: count, EventFirstSeen: last.Add(-time.Minute), EventLastSeen: last, ResourceRole: role,
			Action: detect.Action{ActionType: detect.ActionNetworkConnection, NetworkConnectionAction: nc}}}
}

// fakeFindingsDaemon is fakeDaemon with findings (nil: detection off).
func fakeFindingsDaemon(t *testing.T, fs *apitest.Findings) string {
	t.Helper()
	fake := apitest.NewFake("lab0")
	fake.SetFlows(apitest.LabFlows())
	path := filepath.Join(t.TempDir(), "lab0.sock")
	srv, err := api.ListenPath(path, "lab0", fake)
	if err != nil {
		t.Fatal(err)
	}
	if fs != nil {
		srv.SetFindings(fs)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return path
}

// TestTopFindingsTmux: f opens the findings pane under the talkers, the
// latest first; a new finding and an update show up at the next refresh;
// f closes it again.
func TestTopFindingsTmux(t *testing.T) {
	bin := vxtapBin(t)
	now := time.Now().UTC()
	fs := &apitest.Findings{}
	fs.Put(labFinding("f-scan", detect.TypePortscan, 5, detect.Actor, "198.18.1.10", "198.19.1.20", 1, now.Add(-90*time.Second)))
	fs.Put(labFinding("f-threat", detect.TypeMaliciousIP, 5, detect.Actor, "198.18.1.10", "198.19.1.66", 1, now.Add(-5*time.Second)))
	sock := fakeFindingsDaemon(t, fs)
	tm := newTmux(t, 160, 30, bin, "top", "--socket", sock, "--iface", "lab0", "--interval", "300ms")
	tm.waitFor("the first view", func(s string) bool {
		return firstRowHas(s, "198.18.1.10", "198.19.1.20") && strings.Contains(s, "f findings")
	})

	tm.keys("f")
	scr := tm.waitFor("the findings pane", func(s string) bool {
		return strings.Contains(s, "findings: 2 (Medium 2)") && strings.Contains(s, "SEVERITY")
	})
	lines := strings.Split(scr, "\n")
	threatAt, scanAt := -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, detect.TypeMaliciousIP):
			threatAt = i
			for _, w := range []string{"Medium", "5.0", "ACTOR", "198.18.1.10", "198.19.1.66", "s ago"} {
				if !strings.Contains(l, w) {
					t.Errorf("threat row lacks %q: %q", w, l)
				}
			}
		case strings.Contains(l, detect.TypePortscan):
			scanAt = i
			if !strings.Contains(l, "1m ago") {
				t.Errorf("scan row's last seen: %q", l)
			}
		}
	}
	if threatAt < 0 || scanAt < threatAt {
		t.Errorf("want the threat finding (latest) above the scan:\n%s", scr)
	}
	if !firstRowHas(scr, "198.18.1.10", "198.19.1.20") {
		t.Errorf("the talkers went with the pane open:\n%s", scr)
	}

	// A new finding and an update of an old one arrive with the next poll.
	fs.Put(labFinding("f-ssh", detect.TypeSSHBrute, 8, detect.Target, "198.18.1.10", "2001:db8:2::20", 25, time.Now().UTC()))
	upd := labFinding("f-scan", detect.TypePortscan, 5, detect.Actor, "198.18.1.10", "198.19.1.20", 7, time.Now().UTC().Add(time.Second))
	fs.Put(upd)
	scr = tm.waitFor("the new finding and the update", func(s string) bool {
		return strings.Contains(s, "findings: 3 (High 1, Medium 2)") && strings.Contains(s, "2001:db8:2::20")
	})
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, detect.TypePortscan) && !strings.Contains(l, " 7 ") {
			t.Errorf("the scan's count was not updated to 7: %q", l)
		}
	}
	if strings.Count(scr, detect.TypePortscan) != 1 {
		t.Errorf("an update made a second row:\n%s", scr)
	}

	tm.keys("?")
	tm.waitFor("help names f", func(s string) bool { return strings.Contains(s, "show / hide the findings pane") })
	tm.keys("x")
	tm.keys("f")
	tm.waitFor("the pane closed", func(s string) bool { return !strings.Contains(s, "SEVERITY") && firstRowHas(s, "198.18.1.10") })
	tm.keys("q")
}

// TestTopFindingsOff: against a daemon without detection the pane says so.
func TestTopFindingsOff(t *testing.T) {
	bin := vxtapBin(t)
	sock := fakeFindingsDaemon(t, nil)
	tm := newTmux(t, 150, 24, bin, "top", "--socket", sock, "--iface", "lab0", "--findings")
	tm.waitFor("the pane's message", func(s string) bool {
		return strings.Contains(s, "detection is off on this daemon") && firstRowHas(s, "198.18.1.10")
	})
	tm.keys("q")
}

// TestTopFindingsOnce: --once --findings prints the findings table, the
// latest first, --n of them; with --json the API's answer.
func TestTopFindingsOnce(t *testing.T) {
	bin := vxtapBin(t)
	now := time.Now().UTC()
	fs := &apitest.Findings{}
	for i := 0; i < 4; i++ {
		fs.Put(labFinding(fmt.Sprintf("f%d", i), detect.TypeMaliciousIP, 5, detect.Actor, "198.18.1.10", fmt.Sprintf("198.19.1.%d", 60+i), i+1, now.Add(time.Duration(i)*time.Second)))
	}
	sock := fakeFindingsDaemon(t, fs)
	out, err := exec.Command(bin, "top", "--socket", sock, "--once", "--findings", "--n", "2").Output()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "findings: 4 (Medium 4), latest 2 shown") ||
		!strings.Contains(lines[1], "SEVERITY") || !strings.Contains(lines[2], "198.19.1.63") || !strings.Contains(lines[3], "198.19.1.62") {
		t.Errorf("--once --findings --n 2:\n%s", out)
	}
	out, err = exec.Command(bin, "top", "--socket", sock, "--json", "--findings").Output()
	var page api.Findings
	if err != nil || json.Unmarshal(out, &page) != nil || len(page.Findings) != 4 || page.Seq != 4 {
		t.Errorf("--json --findings: %v:\n%s", err, out)
	}
	// Detection off: a clear error, exit 1.
	off := fakeFindingsDaemon(t, nil)
	cmd := exec.Command(bin, "top", "--socket", off, "--once", "--findings")
	msg, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(msg), "detection is off") {
		t.Errorf("detection off: %v:\n%s", err, msg)
	}
}
