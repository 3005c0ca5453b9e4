package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vxtap/vxtap/loader/livebench"
)

// vxtapRx is `vxtap run` on the receiving veth (native XDP), in one of
// its variants: defaults, 4,096 rules, sampling 1 in 64, the decapsulated
// feed, a live capture of every copy, or a flood of new flows (with a flow
// table big enough for every one of them).
type vxtapRx struct {
	s       *settings
	variant string
	dir     string
	d       *daemon
	capture *daemon // `vxtap capture`, in the capture variant
}

func (v *vxtapRx) start(l *livebench.Lab) error {
	var err error
	if v.dir, err = os.MkdirTemp(v.s.work, "vxtap-"+v.variant+"-"); err != nil {
		return err
	}
	args := []string{v.s.vxtap, "run", "--iface", l.RxIf, "--xdp-mode", "native",
		"--listen", "127.0.0.1:19781", "--flow-log", filepath.Join(v.dir, "flows.jsonl")}
	switch v.variant {
	case "rules":
		cfg := filepath.Join(v.dir, "rules.yaml")
		if err := os.WriteFile(cfg, []byte(rulesConfig(v.s.gen.VNIBase, v.s.gen.VNIs, 4096)), 0o644); err != nil {
			return err
		}
		args = append(args, "--config", cfg)
	case "sample":
		args = append(args, "--sample-rate", "64", "--sample-file", filepath.Join(v.dir, "samples.pcapng"))
	case "decap":
		// The feed's far end is what an IDS would read; vxtap creates it.
		args = append(args, "--decap-to", "create:"+decapName)
	case "flood":
		// Room for every new flow below the 90% pressure-relief mark.
		args = append(args, "--flow-table-size", strconv.FormatUint(v.s.floodFrames*5/4+1024, 10))
	}
	env := []string{"VXTAP_RUN_DIR=" + v.s.runDir, "VXTAP_PIN_ROOT=" + v.s.pinRoot}
	v.d, err = startDaemon("vxtap run", l.RxNS, v.s.appCPU, env, filepath.Join(v.dir, "stderr.log"), "vxtap running", args...)
	if err != nil || v.variant != "capture" {
		return err
	}
	// It says nothing when the daemon took it: startDaemon gives it half
	// a second, and its summary says how many copies it was sent.
	v.capture, err = startDaemon("vxtap capture", l.RxNS, v.s.appCPU, env, filepath.Join(v.dir, "capture.log"), "",
		v.s.vxtap, "capture", "--iface", l.RxIf, "--write", "/dev/null")
	if err != nil {
		v.d.stop(syscall.SIGTERM, 120*time.Second)
	}
	return err
}

// captureSummary matches the counts `vxtap capture` prints at its end.
var captureSummary = regexp.MustCompile(`(\d+) packets captured[^\n]*\n(\d+) packets matched the filter in the data path: (\d+) sent, (\d+) lost \(ring buffer full\), \d+ past the count\n(\d+) packets dropped by the daemon`)

// stopCapture ends the capture variant's `vxtap capture` (before the
// daemon, which then sends its end of capture) and says what it got.
func (v *vxtapRx) stopCapture() (string, error) {
	time.Sleep(drainWait)
	cpu, _ := procSeconds(v.capture.pid())
	if err := v.capture.stop(syscall.SIGINT, 30*time.Second); err != nil {
		return "", fmt.Errorf("vxtap capture: %w: %s", err, v.capture.tail())
	}
	m := captureSummary.FindStringSubmatch(v.capture.tail())
	if m == nil {
		return "", fmt.Errorf("vxtap capture printed no summary: %s", v.capture.tail())
	}
	return fmt.Sprintf("capture: %s written, %s matched, %s lost (ring full), %s dropped (slow reader), %.2f CPU s", m[1], m[2], m[4], m[5], cpu), nil
}

func (v *vxtapRx) finish(l *livebench.Lab) (account, error) {
	defer os.RemoveAll(v.dir)
	cpu, _ := procSeconds(v.d.pid())
	var fwd string
	if v.variant == "decap" {
		// Read before the stop: what the feed took and what it lost.
		fwd = decapCounts(l)
	}
	if v.capture != nil {
		var err error
		if fwd, err = v.stopCapture(); err != nil {
			v.d.stop(syscall.SIGTERM, 120*time.Second)
			return account{}, err
		}
	}
	if err := v.d.stop(syscall.SIGTERM, 120*time.Second); err != nil {
		return account{}, fmt.Errorf("vxtap run: %w: %s", err, v.d.tail())
	}
	n, records, err := sumRecords(filepath.Join(v.dir, "flows.jsonl"))
	if err != nil {
		return account{}, err
	}
	return account{packets: n, procCPU: cpu, note: strings.TrimSpace(fmt.Sprintf("%d records %s", records, fwd))}, nil
}

// decapName is the decap feed the vxtap-decap receiver creates (at most
// 10 characters: vxtap adds "-peer" for the side it redirects into).
const decapName = "blfeed"

// decapCounts reads the feed's counters from the daemon's /metrics in the
// receiver's namespace: copies forwarded, and any not delivered.
func decapCounts(l *livebench.Lab) string {
	out, err := exec.Command("nsenter", "--net="+livebench.NSPath(l.RxNS), "curl", "-sf", "--max-time", "5",
		"http://127.0.0.1:19781/metrics").Output()
	if err != nil {
		return "(decap counters unread: " + err.Error() + ")"
	}
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "vxtap_flagged_packets_total{") || !strings.Contains(line, `flag="decap_`) {
			continue
		}
		f := strings.Fields(line)
		name := line[strings.Index(line, `flag="`)+6:]
		name = name[:strings.Index(name, `"`)]
		if f[len(f)-1] != "0" {
			parts = append(parts, name+"="+f[len(f)-1])
		}
	}
	return strings.Join(parts, " ")
}

// sumRecords adds up the packets of every flow record in a flow log.
func sumRecords(path string) (packets, records uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r struct {
			Packets *uint64 `json:"packets"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Packets == nil {
			return 0, 0, fmt.Errorf("%s:%d: not a flow record: %.200s", path, line, sc.Text())
		}
		packets += *r.Packets
		records++
	}
	return packets, records, sc.Err()
}

// rulesConfig is the live benchmark's 4,096-rule configuration
// (livebench.RulesConfig, which BenchmarkXDPTouch's rules-4096-eni cases
// load too), its sessions naming the source ENI so the rules decide every
// copy: without it the direction is unknown and no rule is evaluated.
func rulesConfig(vniBase, vnis uint32, n int) string {
	return livebench.RulesConfig(vniBase, vnis, n, livebench.ENISession)
}
