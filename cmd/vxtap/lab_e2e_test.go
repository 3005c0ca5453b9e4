package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// labUp brings up a private copy of the lab and registers its removal,
// which must leave no namespace or link behind.
func labUp(t *testing.T) *trafficgen.Lab {
	t.Helper()
	return labUpAs(t, fmt.Sprintf("vxe%d", os.Getpid()%100000))
}

// labUpAs is labUp with a chosen lab prefix (at most 8 characters).
func labUpAs(t *testing.T, prefix string) *trafficgen.Lab {
	t.Helper()
	root := testutil.RepoRoot(t)
	script := func(name string) *exec.Cmd {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", name))
		cmd.Env = append(os.Environ(), "VXTAP_LAB_PREFIX="+prefix)
		return cmd
	}
	if out, err := script("lab-up.sh").CombinedOutput(); err != nil {
		script("lab-down.sh").Run()
		t.Fatalf("lab-up.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// A daemon killed by an earlier cleanup leaves its pins: remove them.
		iface, appNS := prefix+"-nic", prefix+"-app"
		if _, err := os.Stat("/run/netns/" + appNS); err == nil {
			inNetns(t, appNS, func() { loader.Detach(iface) })
			for _, ext := range []string{".lock", ".json", ".sock"} {
				os.Remove(filepath.Join(runDir, nsKey(t, appNS, iface)+ext))
			}
		}
		if out, err := script("lab-down.sh").CombinedOutput(); err != nil {
			t.Errorf("lab-down.sh: %v\n%s", err, out)
		}
		ns, _ := exec.Command("ip", "netns", "list").Output()
		links, _ := exec.Command("ip", "-br", "link").Output()
		if strings.Contains(string(ns), prefix) || strings.Contains(string(links), prefix) {
			t.Errorf("lab-down left things behind:\n%s\n%s", ns, links)
		}
	})
	lab, err := trafficgen.LoadLab(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

// inAppNS runs a command in the appliance namespace and returns stdout.
func inAppNS(t *testing.T, ns string, argv ...string) (string, error) {
	t.Helper()
	full := testutil.InNetns(ns, argv...)
	out, err := exec.Command(full[0], full[1:]...).Output()
	return string(out), err
}

// TestLabEndToEnd: lab up, `vxtap run` on the appliance, known traffic
// through both mirror sources, SIGTERM: the flow records equal the
// generator's counts exactly; /healthz answers 200 while running; /metrics
// parses and passes promtool; lab down leaves nothing.
func TestLabEndToEnd(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	lab := labUp(t)
	flowLog := filepath.Join(t.TempDir(), "flows.json")
	d := startDaemon(t, bin, lab.AppNS, lab.AppIf, flowLog, "--listen", "127.0.0.1:9781", "--config", lab.Sessions)

	opt := trafficgen.DefaultOptions()
	opt.Rounds = 3
	res, err := trafficgen.Run(lab, opt)
	if err != nil {
		t.Fatal(err)
	}

	body, err := inAppNS(t, lab.AppNS, "curl", "-sf", "http://127.0.0.1:9781/healthz")
	if err != nil || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz while running: %q %v", body, err)
	}
	metrics, err := inAppNS(t, lab.AppNS, "curl", "-sf", "http://127.0.0.1:9781/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	if _, ok := fams["vxtap_packets_total"]; !ok {
		t.Error("vxtap_packets_total missing from /metrics")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not installed (scripts/deps.sh installs package prometheus)")
	}
	pc := exec.Command(promtool, "check", "metrics")
	pc.Stdin = strings.NewReader(metrics)
	if out, err := pc.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	d.stop(t, syscall.SIGTERM)
	got := sumRecords(t, flowLog)
	want := map[flow.Key]trafficgen.Count{}
	for _, r := range res.Rows {
		want[r.Key] = r.Count
	}
	if len(want) < 40 {
		t.Fatalf("the generator produced only %d flows", len(want))
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("flow %s: vxtap %d packets %d bytes, sent %d packets %d bytes", k, g.Packets, g.Bytes, w.Packets, w.Bytes)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("flow %s in vxtap's records (%d packets) was never sent", k, g.Packets)
		}
	}
	checkEnriched(t, flowLog)
	t.Logf("%d rounds, %d flows matched exactly", res.Rounds, len(want))
}

// checkEnriched: every record carries its session and ENI from the lab's
// sessions file and a direction; records of source 2, whose filter has
// one accept rule per direction, name that rule; source 1 has no filter:
// no rule.
func checkEnriched(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[uint32][2]string{101: {"lab-src1", "eni-00000000000000101"}, 102: {"lab-src2", "eni-00000000000000102"}}
	ruled := 0
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r flow.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		want := sessions[r.VNI]
		if r.Session != want[0] || r.ENI != want[1] {
			t.Errorf("line %d: vni %d session %q eni %q, want %q %q", i+1, r.VNI, r.Session, r.ENI, want[0], want[1])
		}
		if r.Direction == flow.DirUnknown {
			t.Errorf("line %d: no direction: %s", i+1, line)
		}
		wantRule := map[flow.Direction]uint32{flow.DirIngress: 100, flow.DirEgress: 200}[r.Direction]
		switch {
		case r.VNI == 101 && r.Rule != 0:
			t.Errorf("line %d: rule %d on a session without a filter", i+1, r.Rule)
		case r.VNI == 102 && r.Rule != wantRule:
			t.Errorf("line %d: %s record names rule %d, want %d", i+1, r.Direction, r.Rule, wantRule)
		case r.VNI == 102:
			ruled++
		}
	}
	if ruled == 0 {
		t.Error("no record of lab-src2")
	}
}

// sumRecords sums a flow log per flow.
func sumRecords(t *testing.T, path string) map[flow.Key]trafficgen.Count {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[flow.Key]trafficgen.Count{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r flow.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("flow log line %q: %v", sc.Text(), err)
		}
		c := out[r.Key()]
		c.Packets += r.Packets
		c.Bytes += r.Bytes
		out[r.Key()] = c
	}
	return out
}
