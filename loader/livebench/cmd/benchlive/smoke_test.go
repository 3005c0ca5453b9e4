package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/loader/livebench"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// A short live run of the harness, in both CPU modes: for every XDP
// receiver the packets it accounted equal exactly what the receiving veth
// got (vxtap's records summed), and with generator and XDP on one CPU
// every frame the generator transmitted arrived. (With XDP on its own CPU
// a veth may drop what its ring cannot take: counted at the receiver.)
func TestBenchLiveSmoke(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := t.TempDir()
	s := &settings{
		vxtap: testutil.BuildVxtap(t, dir), work: dir,
		runDir: filepath.Join(dir, "run"), pinRoot: fmt.Sprintf("/sys/fs/bpf/vxtap-smoke-%d", os.Getpid()),
		gen: livebench.DefaultGenConfig(), frames: 5000, floodFrames: 3000,
		genCPU: runtime.NumCPU() - 1, xdpCPU: 0, appCPU: -1,
	}
	t.Cleanup(func() { os.RemoveAll(s.pinRoot) })
	lab, err := livebench.NewLab(fmt.Sprintf("vxs%d", os.Getpid()%100000), 1500)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	specs, err := pickReceivers("drop,touch,flow-floor,flow-map,vxtap,vxtap-4096,vxtap-decap,vxtap-capture,vxtap-newflows,flow-map-newflows")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{modeOneCore, modeOwnCore} {
		for _, spec := range specs {
			res, err := runOne(s, lab, spec, mode, 1)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, spec.name, err)
			}
			want := s.frames
			if spec.flood {
				want = s.floodFrames
			}
			t.Logf("%s %-15s offered %d received %d accounted %d (%s)", mode, spec.name, res.Offered, res.Received, res.Accounted, res.Note)
			switch {
			case res.Offered < want:
				t.Errorf("%s %s: generator transmitted %d, asked %d", mode, spec.name, res.Offered, want)
			case mode == modeOneCore && res.Received != res.Offered:
				t.Errorf("%s %s: receiver got %d of %d transmitted", mode, spec.name, res.Received, res.Offered)
			case res.Received == 0 || !res.Exact:
				t.Errorf("%s %s: accounted %d of %d received", mode, spec.name, res.Accounted, res.Received)
			case spec.name == "vxtap-decap" && !strings.Contains(res.Note, fmt.Sprintf("decap_forwarded=%d", res.Accounted)):
				t.Errorf("%s %s: every accounted copy should be forwarded to the feed: %s", mode, spec.name, res.Note)
			case spec.name == "vxtap-capture" && !captureAccountsAll(res.Note, res.Accounted):
				t.Errorf("%s %s: the capture should have every accounted copy written, lost or dropped (counted): %s", mode, spec.name, res.Note)
			}
		}
	}
}

// captureAccountsAll says whether the capture variant's note has every
// accounted copy either written or counted as lost or dropped.
func captureAccountsAll(note string, accounted uint64) bool {
	m := regexp.MustCompile(`capture: (\d+) written, (\d+) matched, (\d+) lost \(ring full\), (\d+) dropped`).FindStringSubmatch(note)
	if m == nil {
		return false
	}
	n := func(i int) uint64 { v, _ := strconv.ParseUint(m[i], 10, 64); return v }
	return n(2) == accounted && n(1)+n(3)+n(4) == accounted
}
