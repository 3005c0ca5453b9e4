package detect

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const goodConfig = `
sessions:                      # the filter's keys sit beside detect's
  101: {name: sess-web}
detect:
  account: "123456789012"
  region: us-east-1
  severity:
    Recon:EC2/Portscan: 9.5
    UnauthorizedAccess:EC2/SSHBruteForce/TARGET: 4
  disable: [Behavior:EC2/TrafficVolumeUnusual]
  suppress:
    - {type: Recon:EC2/PortProbeUnprotectedPort, remote: 198.19.0.66}   # the vulnerability scanner
  threat_lists: [threats.txt]
  portscan: {window: 30s, ports: 50, hosts: 40}
  bruteforce: {connections: 10, max_packets: 40}
  dos: {syn: 500, completed_ratio: 0.2}
  mining: {ports: [3333], pools: ["198.19.50.0/24"], domains: ["*.minexmr.com", nanopool.org]}
  dns_exfiltration: {queries: 10, min_label: 25}
  limits: {sources: 1000}
  webhook: {url: "http://127.0.0.1:9/hook", max_attempts: 3}
  exec: {command: [/usr/local/bin/isolate, --dry-run], per_minute: 5}
`

func TestParseConfig(t *testing.T) {
	cfg, found, err := Parse("/etc/vxtap/vxtap.yaml", []byte(goodConfig))
	if err != nil || !found {
		t.Fatalf("found %v err %v", found, err)
	}
	if cfg.Account != "123456789012" || cfg.Severity[TypePortscan] != 9.5 || cfg.Severity[TypeSSHBrute+"/TARGET"] != 4 ||
		!cfg.Disabled[TypeVolume] || len(cfg.Suppress) != 1 || cfg.Suppress[0].Remote != netip.MustParsePrefix("198.19.0.66/32") ||
		cfg.ThreatLists[0] != "/etc/vxtap/threats.txt" || cfg.Portscan.Window != 30*time.Second || cfg.Portscan.Ports != 50 ||
		cfg.PortProbe.Ports != Default().PortProbe.Ports || cfg.Brute.Connections != 10 || cfg.Brute.SSHPort != 22 ||
		cfg.DoS.SYN != 500 || cfg.Mining.Domains[0] != "minexmr.com" || cfg.Exfil.MinLabel != 25 || cfg.MaxSources != 1000 ||
		cfg.Webhook.MaxAttempts != 3 || cfg.Webhook.Queue != 1024 || cfg.Exec.Command[1] != "--dry-run" {
		t.Fatalf("parsed %+v", cfg)
	}
	if _, found, err := Parse("x.yaml", []byte("sessions: {}\n")); found || err != nil {
		t.Fatalf("no detect section: found %v err %v", found, err)
	}
}

// Each mistake is reported at its file:line:col with the key's path.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"detect:\n  portscan: {window: soon}\n", `c.yaml:2:22: detect.portscan.window: "soon": want a positive duration`},
		{"detect:\n  portscan:\n    prots: 5\n", `c.yaml:3:5: detect.portscan.prots: unknown key "prots"`},
		{"detect:\n  severity: {Recon:EC2/Portscan: 11}\n", `c.yaml:2:34: detect.severity.Recon:EC2/Portscan: "11": want a number from 1 to 10`},
		{"detect:\n  severity: {Recon:EC2/Nope: 5}\n", `c.yaml:2:14: detect.severity.Recon:EC2/Nope: unknown finding type`},
		{"detect:\n  suppress: [{remote: 198.19.0.1/16}]\n", `c.yaml:2:23: detect.suppress[0].remote: "198.19.0.1/16" has host bits set`},
		{"detect:\n  suppress: [{}]\n", `c.yaml:2:14: detect.suppress[0]: a suppression with no field`},
		{"detect:\n  account: 42\n", `c.yaml:2:12: detect.account: "42": want a 12-digit AWS account id`},
		{"detect:\n  mining: {ports: [0]}\n", `c.yaml:2:20: detect.mining.ports[0]: "0": want a whole number from 1 to 65535`},
		{"detect:\n  webhook: {url: ftp://x}\n", `c.yaml:2:18: detect.webhook.url: "ftp://x": want an http:// or https:// URL`},
		{"detect:\n  limits: {sources: 1}\n  limits: {sources: 2}\n", `c.yaml:3:3: detect.limits: given twice (first at line 2)`},
		{"detect: [\n", `c.yaml:1: malformed YAML`},
	} {
		_, _, err := Parse("c.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	// Several mistakes: all reported.
	_, _, err := Parse("c.yaml", []byte("detect:\n  portscan: {window: x}\n  dos: {syn: -1}\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:2:") || !strings.Contains(err.Error(), "c.yaml:3:") {
		t.Fatalf("want both errors, got %v", err)
	}
}

// Overrides, Critical, suppressions (known scanners) and disabled types.
func TestSeverityAndSuppression(t *testing.T) {
	cfg, _, err := Parse("c.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ThreatLists = nil
	e, sink := newTestEngine(t, cfg)
	for p := uint16(1); p <= 100; p++ {
		e.WriteEvents(evs(start(t0, inst, remote1, 6, 40000, p, tcpSYN), start(t0, remote2, inst, 6, 40000, p, tcpSYN)))
	}
	f := only(t, e, sink, TypePortscan)
	if f.Severity != 9.5 || SeverityLabel(f.Severity) != "Critical" {
		t.Fatalf("severity %v", f.Severity)
	}
	if got := counterValue(t, e.Metrics(), "vxtap_findings_suppressed_total", TypePortProbe); got != 1 {
		t.Fatalf("suppressed counter %v, want 1", got)
	}
	if got := counterValue(t, e.Metrics(), "vxtap_findings_total", "Critical", TypePortscan); got != 1 { // labels in name order
		t.Fatalf("findings_total{Portscan,Critical} = %v", got)
	}
}

// A reload swaps thresholds and lists at once; one whose list does not
// read changes nothing.
func TestReload(t *testing.T) {
	e, sink := newTestEngine(t, nil)
	scan := func(ports uint16, at time.Time) {
		for p := uint16(1); p <= ports; p++ {
			e.WriteEvents(evs(start(at, inst, remote1, 6, 40000, p, tcpSYN)))
		}
	}
	scan(60, t0)
	none(t, e)
	cfg := Default()
	cfg.Portscan.Ports = 50
	if err := e.Reload(cfg, nil); err != nil {
		t.Fatal(err)
	}
	scan(60, t0.Add(5*time.Minute))
	only(t, e, sink, TypePortscan)

	bad := Default()
	bad.ThreatLists = []string{writeFile(t, t.TempDir(), "t.txt", "198.19.9.9\n198.19.9.300\n")}
	if err := e.Reload(bad, nil); err == nil || !strings.Contains(err.Error(), "t.txt:2:") {
		t.Fatalf("reload with a bad list: %v", err)
	}
	if e.Config() != cfg {
		t.Fatal("a failed reload replaced the configuration")
	}
}
