package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/detect"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// detectLabConfig is the lab's sessions with a filter that captures DNS
// queries (so they reach the DNS parser as samples) and a detect:
// section with thresholds the tools below cross.
func detectLabConfig(t *testing.T, lab *trafficgen.Lab, listed netip.Addr) string {
	t.Helper()
	s1, s2 := lab.Sources[0], lab.Sources[1]
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "threats.txt"), []byte("# lab threat feed\n"+listed.String()+"\n2001:db8:66::/48\n"), 0o644)
	cfg := fmt.Sprintf(`sessions:
  %d: {name: lab-src1, eni: eni-0a1b2c3d4e5f60101, addresses: [%s, "%s"], filter: lab}
  %d: {name: lab-src2, eni: eni-0a1b2c3d4e5f60102, addresses: [%s, "%s"], filter: lab}
filters:
  lab:
    ingress:
      - {rule: 50, action: accept, protocol: udp, destination_ports: 53, capture: true}
      - {rule: 100, action: accept}
    egress:
      - {rule: 50, action: accept, protocol: udp, destination_ports: 53, capture: true}
      - {rule: 100, action: accept}
detect:
  account: "123456789012"
  region: us-east-1
  threat_lists: [threats.txt]
  list_interval: 200ms
  mining: {domains: [minexmr.com]}
  portscan: {ports: 100, hosts: 100}
  port_probe: {ports: 50}
  dos: {syn: 500}
  bruteforce: {connections: 20}
  dns_exfiltration: {queries: 20}
`, s1.VNI, s1.WLv4, s1.WLv6, s2.VNI, s2.WLv4, s2.WLv6)
	path := filepath.Join(dir, "vxtap.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// inNS runs a tool in a lab namespace.
func inNS(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	full := testutil.InNetns(ns, argv...)
	out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s in %s: %v\n%s", strings.Join(argv, " "), ns, err, out)
	}
	return string(out)
}

// seen is every finding id a scenario already accounted for.
var seen = map[string]bool{}

// want is one expected finding.
type want struct {
	typ           string
	sev           float64
	role          detect.Role
	local, remote string // "" = none
	vni           uint32
	session       string
}

// expectOne waits for findings changed after seq and requires exactly
// one new finding among them, the expected one (updates of findings seen
// before are left alone: earlier flows' records arrive late), and no
// second finding of its key.
//
// seq moves past what was seen even on failure, so one scenario's
// failure does not spill into the next.
func expectOne(t *testing.T, c *api.Client, seq *uint64, w want, within time.Duration) detect.Finding {
	t.Helper()
	defer func() {
		all, _ := c.Findings(context.Background(), detect.Query{})
		for _, f := range all.Findings {
			seen[f.ID] = true
		}
	}()
	deadline := time.Now().Add(within)
	for {
		page, err := c.Findings(context.Background(), detect.Query{After: *seq})
		if err != nil {
			t.Fatal(err)
		}
		var match []detect.Finding
		var other []string
		for _, f := range page.Findings {
			if seen[f.ID] {
				continue
			}
			local, remote := "", ""
			var nc = f.Service.Action.NetworkConnectionAction
			switch {
			case nc != nil:
				local, remote = nc.LocalIPDetails.Addr().String(), nc.RemoteIPDetails.Addr().String()
			case f.Service.Action.PortProbeAction != nil:
				d := f.Service.Action.PortProbeAction.PortProbeDetails[0]
				local, remote = d.LocalIPDetails.Addr().String(), d.RemoteIPDetails.Addr().String()
			case f.Service.Action.DNSRequestAction != nil:
				local, remote = f.Resource.InstanceDetails.NetworkInterfaces[0].PrivateIPAddress, f.Service.Action.DNSRequestAction.Domain
			}
			if local == "invalid IP" {
				local = ""
			}
			if remote == "invalid IP" {
				remote = ""
			}
			if f.Type == w.typ && f.Severity == w.sev && f.Service.ResourceRole == w.role && local == w.local &&
				remote == w.remote && f.Vxtap.VNI == w.vni && f.Vxtap.Session == w.session {
				match = append(match, f)
			} else {
				other = append(other, fmt.Sprintf("%s sev %g %s local %q remote %q vni %d session %q", f.Type, f.Severity,
					f.Service.ResourceRole, local, remote, f.Vxtap.VNI, f.Vxtap.Session))
			}
		}
		if len(match) == 1 && len(other) == 0 {
			*seq = page.Seq
			return match[0]
		}
		if len(match) > 1 || len(other) > 0 || time.Now().After(deadline) {
			*seq = page.Seq
			t.Fatalf("want exactly %+v; got %d matching, others: %v", w, len(match), other)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLabFindings drives real tools through the lab's mirrored workloads
// and checks each raises exactly its finding (type, severity, role,
// addresses, VNI, session), once: the traffic generator first (benign: no
// finding), nmap SYN and connect scans out of and into the workload,
// hping3 SYN floods both ways (bounded counts), a threat-listed address
// contacted (the finding within a second), dig for a listed mining domain
// and for long random labels at a rate (DNS reaches the detectors as
// samples through a capture rule), and repeated short SSH connections.
func TestLabFindings(t *testing.T) {
	testutil.RequirePrivileged(t)
	for _, tool := range []string{"nmap", "hping3", "dig", "python3", "base32"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/deps.sh)", tool)
		}
	}
	bin := vxtapBin(t)
	prefix := os.Getenv("VXTAP_LAB_PREFIX")
	if prefix == "" {
		prefix = fmt.Sprintf("vxf%d", os.Getpid()%100000)
	}
	lab := labUpAs(t, prefix)
	s1 := lab.Sources[0]
	wl, peer := s1.WLv4.String(), s1.PeerV4.String()
	wl6, peer6 := s1.WLv6.String(), s1.PeerV6.String()
	// A threat-listed host beside the peer (static neighbour: no ARP).
	listed := netip.MustParseAddr("198.19.1.66")
	inNS(t, s1.PeerNS, "ip", "addr", "add", listed.String()+"/32", "dev", "srv0")
	inNS(t, s1.NS, "ip", "neigh", "replace", listed.String(), "lladdr", "02:00:00:00:0b:01", "dev", s1.Iface, "nud", "permanent")
	conf := detectLabConfig(t, lab, listed)
	findingsLog := filepath.Join(t.TempDir(), "findings.jsonl")
	flowLog := filepath.Join(t.TempDir(), "flows.json")
	d := startDaemon(t, bin, lab.AppNS, lab.AppIf, flowLog, "--config", conf, "--findings-log", findingsLog, "--listen", "127.0.0.1:9783")
	// The daemon runs in the appliance namespace: its socket is keyed by it.
	c, err := api.DialPath(filepath.Join(api.RunDir(), nsKey(t, lab.AppNS, lab.AppIf)+".sock"), lab.AppIf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Benign: the generator's mix (TCP both ways with payload, UDP, ICMP,
	// IPv4 and IPv6, both sources) and ordinary DNS raise nothing.
	// VXTAP_BENIGN_DURATION runs it longer (default 20s).
	opt := trafficgen.DefaultOptions()
	opt.Duration = 20 * time.Second
	if v := os.Getenv("VXTAP_BENIGN_DURATION"); v != "" {
		if opt.Duration, err = time.ParseDuration(v); err != nil {
			t.Fatalf("VXTAP_BENIGN_DURATION: %v", err)
		}
	}
	digs := exec.Command("ip", "netns", "exec", s1.NS, "bash", "-c", `for i in $(seq 20); do
  dig +tries=1 +time=1 @`+peer+` www$i.example.com >/dev/null; done; true`)
	if err := digs.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := trafficgen.Run(lab, opt); err != nil {
		t.Fatal(err)
	}
	digs.Wait()
	time.Sleep(3 * time.Second) // the records of its last flows
	page, err := c.Findings(context.Background(), detect.Query{})
	if err != nil || len(page.Findings) != 0 {
		t.Fatalf("the benign mix raised findings: %v %+v", err, page)
	}
	seq := page.Seq

	vni := s1.VNI
	t.Run("threat list, within a second", func(t *testing.T) {
		// One TCP connection attempt (the listed host answers RST).
		began := time.Now()
		inNS(t, s1.NS, "bash", "-c", "exec 3<>/dev/tcp/"+listed.String()+"/443 || true")
		f := expectOne(t, c, &seq, want{detect.TypeMaliciousIP, 5, detect.Actor, wl, listed.String(), vni, "lab-src1"}, time.Second)
		if took := time.Since(began); took > time.Second {
			t.Errorf("finding %v after the first packet", took)
		}
		t.Logf("finding %s %v after the first packet", f.ID, f.CreatedAt.Sub(f.Service.EventFirstSeen))
		// Raised by the kernel's threat trie: one hit event (the answer
		// is a flow of its own and hits too), none from userspace.
		waitMetric(t, lab.AppNS, `vxtap_detect_inputs_total{kind="threat_hit"} 2`)
		waitMetric(t, lab.AppNS, `vxtap_flagged_packets_total{flag="threat_event",iface="`+lab.AppIf+`"} 2`)
	})
	t.Run("nmap SYN scan out of the workload", func(t *testing.T) {
		inNS(t, s1.NS, "nmap", "-n", "-Pn", "-sS", "-T4", "--max-retries", "0", "-p", "1-300", peer)
		expectOne(t, c, &seq, want{detect.TypePortscan, 5, detect.Actor, wl, peer, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("nmap connect scan out of the workload, IPv6", func(t *testing.T) {
		inNS(t, s1.NS, "nmap", "-6", "-n", "-Pn", "-sT", "-T4", "--max-retries", "0", "-p", "1-300", peer6)
		expectOne(t, c, &seq, want{detect.TypePortscan, 5, detect.Actor, wl6, peer6, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("nmap SYN scan into the workload", func(t *testing.T) {
		inNS(t, s1.PeerNS, "nmap", "-n", "-Pn", "-sS", "-T4", "--max-retries", "0", "-p", "1000-1200", wl)
		expectOne(t, c, &seq, want{detect.TypePortProbe, 2, detect.Target, wl, peer, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("nmap connect scan into the workload, IPv6", func(t *testing.T) {
		inNS(t, s1.PeerNS, "nmap", "-6", "-n", "-Pn", "-sT", "-T4", "--max-retries", "0", "-p", "1000-1200", wl6)
		expectOne(t, c, &seq, want{detect.TypePortProbe, 2, detect.Target, wl6, peer6, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("hping3 SYN flood out of the workload", func(t *testing.T) {
		inNS(t, s1.NS, "hping3", "-q", "-S", "-p", "80", "-c", "800", "-i", "u300", peer)
		expectOne(t, c, &seq, want{detect.TypeDoSTCP, 8, detect.Actor, wl, peer, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("hping3 SYN flood into the workload", func(t *testing.T) {
		inNS(t, s1.PeerNS, "hping3", "-q", "-S", "-p", "8080", "-c", "800", "-i", "u300", wl)
		expectOne(t, c, &seq, want{detect.TypeDoSTCP, 8, detect.Target, wl, peer, vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("dig for a listed mining domain", func(t *testing.T) {
		inNS(t, s1.NS, "bash", "-c", "dig +tries=1 +time=1 @"+peer+" pool.minexmr.com || true")
		expectOne(t, c, &seq, want{detect.TypeBitcoinToolDNS, 8, detect.Actor, wl, "pool.minexmr.com", vni, "lab-src1"}, 5*time.Second)
	})
	t.Run("dig with long random labels at a rate", func(t *testing.T) {
		inNS(t, s1.NS, "bash", "-c", `for i in $(seq 30); do
  dig +tries=1 +time=1 @`+peer+` $(head -c 30 /dev/urandom | base32 | tr -d = | tr A-Z a-z).$i.exfil.example >/dev/null &
done; wait; true`)
		expectOne(t, c, &seq, want{detect.TypeDNSExfil, 8, detect.Actor, wl, "exfil.example", vni, "lab-src1"}, 5*time.Second)
	})
	// `vxtap findings --follow` prints the next finding as it comes.
	fargv := testutil.InNetns(lab.AppNS, bin, "findings", "--follow", "--iface", lab.AppIf, "--interval", "100ms", "--type", detect.TypeSSHBrute)
	follow := exec.Command(fargv[0], fargv[1:]...)
	var followOut strings.Builder
	follow.Stdout, follow.Stderr = &followOut, &followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if follow.ProcessState == nil {
			follow.Process.Kill()
			follow.Wait()
		}
	}()
	t.Run("repeated short connections to port 22", func(t *testing.T) {
		// A listener on the workload's port 22 that greets and closes.
		srv := exec.Command("ip", "netns", "exec", s1.NS, "python3", "-c", `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("`+wl+`", 22)); s.listen(64); print("up", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"SSH-2.0-lab\r\n"); c.close()
`)
		out, _ := srv.StdoutPipe()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { srv.Process.Kill(); srv.Wait() }()
		buf := make([]byte, 3)
		if _, err := out.Read(buf); err != nil {
			t.Fatalf("listener: %v", err)
		}
		inNS(t, s1.PeerNS, "bash", "-c", `for i in $(seq 25); do exec 3<>/dev/tcp/`+wl+`/22; head -c 13 <&3 >/dev/null; exec 3>&-; sleep 0.05; done`)
		expectOne(t, c, &seq, want{detect.TypeSSHBrute, 2, detect.Target, wl, peer, vni, "lab-src1"}, 8*time.Second)
	})

	t.Run("SIGHUP reload", func(t *testing.T) {
		orig, _ := os.ReadFile(conf)
		// A detect section that does not read: logged, the running one stays.
		os.WriteFile(conf, []byte(strings.Replace(string(orig), "portscan: {ports: 100, hosts: 100}", "portscan: {ports: lots}", 1)), 0o644)
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitMetric(t, lab.AppNS, `vxtap_detect_reloads_total{result="error"} 1`)
		// A second threat list: its address raises once the new section is in.
		more := netip.MustParseAddr("198.19.1.77")
		inNS(t, s1.PeerNS, "ip", "addr", "add", more.String()+"/32", "dev", "srv0")
		inNS(t, s1.NS, "ip", "neigh", "replace", more.String(), "lladdr", "02:00:00:00:0b:01", "dev", s1.Iface, "nud", "permanent")
		os.WriteFile(filepath.Join(filepath.Dir(conf), "more.txt"), []byte(more.String()+"\n"), 0o644)
		os.WriteFile(conf, []byte(strings.Replace(string(orig), "threat_lists: [threats.txt]", "threat_lists: [threats.txt, more.txt]", 1)), 0o644)
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitMetric(t, lab.AppNS, `vxtap_detect_reloads_total{result="ok"} 1`)
		inNS(t, s1.NS, "bash", "-c", "exec 3<>/dev/tcp/"+more.String()+"/443 || true")
		expectOne(t, c, &seq, want{detect.TypeMaliciousIP, 5, detect.Actor, wl, more.String(), vni, "lab-src1"}, 2*time.Second)
		waitMetric(t, lab.AppNS, `vxtap_detect_inputs_total{kind="threat_hit"} 4`) // the reload reached the kernel's trie
	})

	time.Sleep(300 * time.Millisecond) // one --follow poll
	follow.Process.Signal(syscall.SIGTERM)
	follow.Wait()
	if lines := strings.Split(strings.TrimSpace(followOut.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"type":"`+detect.TypeSSHBrute+`"`) {
		t.Errorf("vxtap findings --follow printed:\n%s", followOut.String())
	}
	// `vxtap findings` once: every finding, one line each.
	oargv := testutil.InNetns(lab.AppNS, bin, "findings", "--iface", lab.AppIf)
	once, err := exec.Command(oargv[0], oargv[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}

	// Every finding also went to the JSON lines log, once each.
	data, err := os.ReadFile(findingsLog)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := c.Findings(context.Background(), detect.Query{})
	if lines := strings.Count(string(data), "\n"); lines != len(all.Findings) || strings.Count(string(once), "\n") != len(all.Findings) {
		t.Errorf("findings log has %d lines, vxtap findings %d, the store %d findings", lines, strings.Count(string(once), "\n"), len(all.Findings))
	}
	metrics, err := inAppNS(t, lab.AppNS, "curl", "-sf", "http://127.0.0.1:9783/metrics")
	if err != nil || !strings.Contains(metrics, `vxtap_findings_total{severity="High",type="Backdoor:EC2/DenialOfService.Tcp"} 2`) {
		t.Errorf("/metrics: %v\n%s", err, grepLines(metrics, "vxtap_findings_total"))
	}
	pc := exec.Command("promtool", "check", "metrics")
	pc.Stdin = strings.NewReader(metrics)
	if out, err := pc.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasSuffix(l, " 0") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitMetric waits for a line of the daemon's /metrics.
func waitMetric(t *testing.T, ns, line string) {
	t.Helper()
	var body string
	for i := 0; i < 100; i++ {
		body, _ = inAppNS(t, ns, "curl", "-sf", "http://127.0.0.1:9783/metrics")
		if strings.Contains(body, line+"\n") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/metrics never showed %q:\n%s", line, grepLines(body, "vxtap_detect_reloads_total"))
}
