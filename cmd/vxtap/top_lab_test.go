package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// udpStream sends datagrams of size bytes from one socket in a source
// namespace to port on dst for dur, pausing pause between them. Nobody
// listens: the few port-unreachable errors are ignored.
func udpStream(t *testing.T, ns, dst string, port, size int, pause string, dur time.Duration) *exec.Cmd {
	t.Helper()
	script := fmt.Sprintf(`exec 3>/dev/udp/%s/%d; p=$(head -c %d /dev/zero | tr '\0' x); end=$(( $(date +%%s) + %d ));
while [ "$(date +%%s)" -lt "$end" ]; do printf '%%s' "$p" >&3; sleep %s; done`, dst, port, size, int(dur.Seconds()), pause)
	argv := testutil.InNetns(ns, "bash", "-c", script)
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestTopLab runs `vxtap top` in tmux against a real daemon on the lab
// with known traffic: a heavy UDP stream and a light one from source 1
// (VNI 101), a medium one from source 2 (VNI 102). It sends s, g, / and q
// and reads the screen.
func TestTopLab(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	lab := labUp(t)
	s1, s2 := lab.Sources[0], lab.Sources[1]
	if lab.Sessions == "" {
		t.Fatal("the lab wrote no sessions file")
	}
	startDaemon(t, bin, lab.AppNS, lab.AppIf, filepath.Join(t.TempDir(), "flows.json"), "--listen", "127.0.0.1:9781",
		"--config", lab.Sessions)

	udpStream(t, s1.NS, s1.PeerV4.String(), 7001, 1400, "0.002", 40*time.Second) // heaviest
	udpStream(t, s1.NS, s1.PeerV4.String(), 7002, 20, "0.05", 40*time.Second)    // light
	udpStream(t, s2.NS, s2.PeerV4.String(), 7003, 400, "0.01", 40*time.Second)   // medium, VNI 102

	tm := newTmux(t, 160, 30, bin, "top", "--iface", lab.AppIf)
	heavy := "-> 7001"
	scr := tm.waitFor("the heaviest flow first", func(s string) bool {
		// All three streams: on a busy machine the light ones may start late.
		return strings.Contains(s, "sort: rate") && firstRowHas(s, "101", s1.WLv4.String(), heavy) &&
			strings.Contains(s, "-> 7003") && strings.Contains(s, "-> 7002")
	})
	if !firstRowHas(scr, "101 lab-src1") {
		t.Errorf("the session's name should follow the VNI:\n%s", scr)
	}
	// The sessions list the workload addresses: from the workload is egress.
	if !firstRowHas(scr, "egress") {
		t.Errorf("the heaviest flow leaves the workload: DIR should say egress:\n%s", scr)
	}
	fiveTuple := len(dataRows(scr))
	if fiveTuple < 3 || !strings.Contains(scr, "-> 7003") || !strings.Contains(scr, "-> 7002") {
		t.Fatalf("the three streams should show:\n%s", scr)
	}
	if !strings.Contains(scr, "("+"daemon)") {
		t.Errorf("header does not say it reads the daemon:\n%s", scr)
	}

	tm.keys("s")
	tm.waitFor("sort by bytes, heaviest first", func(s string) bool {
		return strings.Contains(s, "sort: bytes") && firstRowHas(s, heavy)
	})
	tm.keys("s")
	tm.waitFor("sort by packets", func(s string) bool { return strings.Contains(s, "sort: packets") })

	// g: by source IP: one row per source, fewer rows than flows.
	tm.keys("g")
	scr = tm.waitFor("grouping by source", func(s string) bool {
		return strings.Contains(s, "group: source IP") && strings.Contains(s, "FLOWS")
	})
	rows := dataRows(scr)
	seen := map[string]bool{}
	for _, r := range rows {
		f := strings.Fields(r)
		if len(f) > 2 && strings.HasPrefix(f[1], "lab-src") {
			f = f[1:] // the session's name follows the VNI
		}
		if len(f) > 1 {
			if seen[f[1]] {
				t.Errorf("source %s on two rows:\n%s", f[1], scr)
			}
			seen[f[1]] = true
		}
	}
	if len(rows) >= fiveTuple {
		t.Errorf("grouping by source kept %d rows (5-tuple had %d):\n%s", len(rows), fiveTuple, scr)
	}
	tm.keys("G") // back to 5-tuple

	// /: only VNI 102 stays.
	tm.keys("/")
	tm.waitFor("the filter prompt", func(s string) bool { return strings.Contains(s, "filter: ") })
	tm.text("vni 102")
	tm.keys("Enter")
	scr = tm.waitFor("the filtered view", func(s string) bool {
		rs := dataRows(s)
		return strings.Contains(s, "filter: vni 102") && len(rs) > 0 && strings.HasPrefix(strings.TrimSpace(rs[0]), "102")
	})
	for _, r := range dataRows(scr) {
		if !strings.HasPrefix(strings.TrimSpace(r), "102") {
			t.Errorf("filter vni 102 left %q", r)
		}
	}
	if strings.Contains(scr, "-> 7001") {
		t.Errorf("the VNI 101 stream is still shown:\n%s", scr)
	}

	tm.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(tm.exitFile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			if st := strings.TrimSpace(string(b)); st != "0" {
				t.Fatalf("vxtap top exited %s after q", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vxtap top still runs 10 s after q; screen:\n%s", tm.screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
