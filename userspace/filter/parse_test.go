package filter_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
)

const (
	awsFilters  = "../../../shared/aws/describe-traffic-mirror-filters.json"
	awsSessions = "../../../shared/aws/describe-traffic-mirror-sessions.json"
)

// TestSharedAWSDocumentsLoadUnchanged: the AWS CLI documents load as
// they are, by flag and inside a config file, with AWS semantics.
func TestSharedAWSDocumentsLoadUnchanged(t *testing.T) {
	cfg, err := filter.Load("", []string{awsFilters}, []string{awsSessions})
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Filters["tmf-0a1b2c3d4e5f60718"]
	if f == nil || !f.AmazonDNS || len(f.Rules[filter.Ingress]) != 3 || len(f.Rules[filter.Egress]) != 2 {
		t.Fatalf("filter: %+v", f)
	}
	r := f.Rules[filter.Ingress][0]
	if r.Number != 100 || r.Action != filter.Reject || r.Protocol != 6 || r.DstPorts != (filter.PortRange{From: 22, To: 22, Set: true}) ||
		r.Src != netip.MustParsePrefix("10.20.0.0/16") || r.SrcPorts.Set {
		t.Errorf("ingress rule 100: %+v", r)
	}
	if e := f.Rules[filter.Egress][0]; e.Protocol != filter.AnyProtocol {
		t.Errorf("egress rule without Protocol: %d, want all", e.Protocol)
	}
	if len(cfg.Sessions) != 2 || cfg.Sessions[0].VNI != 42 || cfg.Sessions[0].PacketLength != 8500 ||
		cfg.Sessions[1].Filter != f.ID || cfg.Sessions[1].ENI != "eni-0fedcba9876543210" {
		t.Errorf("sessions: %+v %+v", cfg.Sessions[0], cfg.Sessions[1])
	}
	// Sessions are given and no default: a VNI none of them names is refused.
	if cfg.Default.Mode != filter.ModeUnknownVNI {
		t.Errorf("default session %s, want unknown_vni", cfg.Default.Mode)
	}

	// The same documents inside one config file: the JSON objects merged.
	dir := t.TempDir()
	fj, _ := os.ReadFile(awsFilters)
	sj, _ := os.ReadFile(awsSessions)
	merged := strings.TrimSuffix(strings.TrimSpace(string(fj)), "}") + "," + strings.TrimPrefix(strings.TrimSpace(string(sj)), "{")
	path := filepath.Join(dir, "all.json")
	os.WriteFile(path, []byte(merged), 0o600)
	cfg2, err := filter.Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg2.Sessions) != 2 || cfg2.Filters[f.ID] == nil {
		t.Errorf("merged document: %d sessions", len(cfg2.Sessions))
	}
}

// TestAWSSemantics: the AWS documentation's examples, by the reference
// evaluator and by the compiled tables.
func TestAWSSemantics(t *testing.T) {
	cfg, err := filter.Load("", []string{awsFilters}, []string{awsSessions})
	if err != nil {
		t.Fatal(err)
	}
	comp := filter.Compile(cfg)
	eni := netip.MustParseAddr("10.0.1.10")
	bastion := netip.MustParseAddr("10.20.3.4")
	web := netip.MustParseAddr("203.0.113.9")
	eni6, peer6 := netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("2001:db8:1::1")
	for _, tc := range []struct {
		name   string
		p      filter.Packet
		accept bool
		by     filter.DecidedBy
		rule   int
	}{
		{"ssh from the bastion subnet rejected", filter.Packet{VNI: 42, OuterSrc: eni, Src: bastion, Dst: eni, Proto: 6, SrcPort: 5000, DstPort: 22}, false, filter.ByRule, 100},
		{"other tcp in accepted", filter.Packet{VNI: 42, OuterSrc: eni, Src: bastion, Dst: eni, Proto: 6, SrcPort: 5000, DstPort: 443}, true, filter.ByRule, 200},
		{"ssh from elsewhere accepted", filter.Packet{VNI: 42, OuterSrc: eni, Src: web, Dst: eni, Proto: 6, SrcPort: 5000, DstPort: 22}, true, filter.ByRule, 200},
		{"dns answers in", filter.Packet{VNI: 42, OuterSrc: eni, Src: web, Dst: eni, Proto: 17, SrcPort: 53, DstPort: 3333}, true, filter.ByRule, 300},
		{"other udp in: no match", filter.Packet{VNI: 42, OuterSrc: eni, Src: web, Dst: eni, Proto: 17, SrcPort: 54, DstPort: 53}, false, filter.ByNoMatch, 0},
		{"icmp in: no match", filter.Packet{VNI: 42, OuterSrc: eni, Src: web, Dst: eni, Proto: 1}, false, filter.ByNoMatch, 0},
		{"anything out, no Protocol key", filter.Packet{VNI: 43, OuterSrc: eni, Src: eni, Dst: web, Proto: 47}, true, filter.ByRule, 100},
		{"ipv6 out by its own rule", filter.Packet{VNI: 43, OuterSrc: eni6, Src: eni6, Dst: peer6, Proto: 6, SrcPort: 1, DstPort: 2}, true, filter.ByRule, 110},
		{"ipv6 in: 0.0.0.0/0 does not match IPv6", filter.Packet{VNI: 43, OuterSrc: eni6, Src: peer6, Dst: eni6, Proto: 6, SrcPort: 1, DstPort: 2}, false, filter.ByNoMatch, 0},
		{"amazon-dns accepted whatever the rules", filter.Packet{VNI: 42, OuterSrc: eni, Src: eni, Dst: netip.MustParseAddr("169.254.169.253"), Proto: 17, SrcPort: 3333, DstPort: 53}, true, filter.ByNetworkService, 0},
		{"unknown direction analyzed", filter.Packet{VNI: 42, OuterSrc: eni, Src: web, Dst: bastion, Proto: 6}, true, filter.ByUnknownDirection, 0},
		{"VNI without a session refused (unknown_vni)", filter.Packet{VNI: 7, OuterSrc: eni, Src: web, Dst: eni, Proto: 6}, false, filter.BySession, 0},
	} {
		for name, d := range map[string]filter.Decision{"reference": cfg.Evaluate(tc.p), "tables": comp.Classify(tc.p).Decision} {
			rule := 0
			if d.Rule != nil {
				rule = d.Rule.Number
			}
			if d.Accept != tc.accept || d.By != tc.by || rule != tc.rule {
				t.Errorf("%s: %s: accept %v by %s rule %d, want %v by %s rule %d", tc.name, name, d.Accept, d.By, rule, tc.accept, tc.by, tc.rule)
			}
		}
	}
}

// TestYAMLFormat: vxtap's own format, with every field.
func TestYAMLFormat(t *testing.T) {
	doc := `
sessions:
  42:
    name: web-1
    eni: eni-0123456789abcdef0
    addresses: [10.0.1.10, "2001:db8::10"]
    filter: web
    unknown_direction: reject
    sample_rate: 100
    snap_len: 256
  43: {action: reject}
default: {filter: web, unknown_direction: egress}
amazon_dns: [169.254.169.253]
vpc_cidrs: [10.0.0.0/16]
filters:
  web:
    description: web tier
    network_services: [amazon-dns]
    ingress:
      - {rule: 10, action: reject, protocol: tcp, source: 10.20.0.0/16, destination_ports: 22}
      - {rule: 20, action: accept, protocol: 6, source_ports: "1024-65535", capture: true, sample_rate: 5}
      - {rule: 30, action: accept, protocol: udp, forward: false}
    egress:
      - {rule: 5, action: accept, destination: "::/0", description: v6 out}
`
	b := filter.NewBuilder()
	b.Add("cfg.yaml", []byte(doc), filter.DocConfig)
	cfg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Session(42)
	if s.Name != "web-1" || len(s.Addrs) != 2 || s.Unknown != filter.UnknownReject || s.SampleRate != 100 || s.SnapLen != 256 {
		t.Errorf("session 42: %+v", s)
	}
	if cfg.Session(43).Mode != filter.ModeReject || cfg.Default.Filter != "web" || cfg.Default.Unknown != filter.UnknownEgress {
		t.Errorf("session 43 %+v, default %+v", cfg.Session(43), cfg.Default)
	}
	if got := cfg.Resolvers; len(got) != 2 || got[0] != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("resolvers %v, want 10.0.0.2 and 169.254.169.253", got)
	}
	r := cfg.Filters["web"].Rules[filter.Ingress][1]
	if r.SrcPorts != (filter.PortRange{From: 1024, To: 65535, Set: true}) || !r.Capture || r.SampleRate != 5 || r.Pos.Line != 21 || r.NoForward {
		t.Errorf("rule 20: %+v", r)
	}
	if r := cfg.Filters["web"].Rules[filter.Ingress][2]; !r.NoForward || r.Number != 30 {
		t.Errorf("rule 30 (forward: false): %+v", r)
	}
}

// TestBadInput: every error names the file and line, and the rule when
// there is one; a document with several errors reports them all.
func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		kind      filter.DocKind
		want      []string // substrings of the error, in order
	}{
		{"malformed yaml", "sessions:\n  42: {filter: x\n", filter.DocConfig, []string{"f.yaml:1", "malformed YAML"}},
		{"malformed json", "{\n  \"TrafficMirrorFilters\": [\n    {\"TrafficMirrorFilterId\": \"a\",}\n  ]\n}\n", filter.DocAWSFilters,
			[]string{"f.yaml:3:", "malformed JSON"}},
		{"unknown top-level key", "filter: {}\n", filter.DocConfig, []string{"f.yaml:1:1", `unknown field "filter"`}},
		{"unknown rule field", "filters:\n  a:\n    ingress:\n      - {rule: 7, action: accept, port: 22}\n", filter.DocConfig,
			[]string{"f.yaml:4:35", `filter "a" ingress rule 7`, `unknown field "port"`}},
		{"AWS sessions key in a filters file", `{"TrafficMirrorSessions": []}`, filter.DocAWSFilters, []string{`unknown field "TrafficMirrorSessions"`}},
		{"bad cidr", "filters:\n  a:\n    egress:\n      - rule: 9\n        action: accept\n        source: 10.0.0.0/33\n", filter.DocConfig,
			[]string{"f.yaml:6:17", `filter "a" egress rule 9`, `bad CIDR "10.0.0.0/33"`}},
		{"ports on icmp", "filters:\n  a:\n    ingress:\n      - {rule: 3, action: accept, protocol: icmp, destination_ports: 80}\n", filter.DocConfig,
			[]string{"f.yaml:4:", "rule 3", "destination port range on a rule for protocol 1: ports apply to TCP (6) and UDP (17) only"}},
		{"ports without protocol", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "a", "EgressFilterRules": [{"RuleNumber": 4, "RuleAction": "accept", "SourcePortRange": {"FromPort": 1, "ToPort": 2}}]}]}`,
			filter.DocAWSFilters, []string{"rule 4", "source port range on a rule for all protocols"}},
		{"inverted range", "filters:\n  a:\n    ingress:\n      - {rule: 5, action: accept, protocol: udp, source_ports: 2000-1000}\n", filter.DocConfig,
			[]string{"f.yaml:4:", "rule 5", "source port range 2000-1000 is inverted"}},
		{"inverted AWS range", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "a", "IngressFilterRules": [{"RuleNumber": 6, "RuleAction": "reject", "Protocol": 17, "DestinationPortRange": {"FromPort": 90, "ToPort": 80}}]}]}`,
			filter.DocAWSFilters, []string{"rule 6", "destination port range 90-80 is inverted"}},
		{"duplicate rule number", "filters:\n  a:\n    ingress:\n      - {rule: 5, action: accept}\n      - {rule: 5, action: reject}\nsessions: {1: {filter: a}}\n",
			filter.DocConfig, []string{"f.yaml:5:9", `filter "a" ingress rule 5`, "duplicate rule number (also at f.yaml:4:9)"}},
		{"rule number out of range", "filters:\n  a:\n    ingress:\n      - {rule: 40000, action: accept}\n", filter.DocConfig,
			[]string{"f.yaml:4:", "rule 40000", "rule: 40000 is out of range 1..32766"}},
		{"protocol out of range", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "a", "IngressFilterRules": [{"RuleNumber": 1, "RuleAction": "accept", "Protocol": 256}]}]}`,
			filter.DocAWSFilters, []string{"rule 1", "Protocol: 256 is out of range 0..255"}},
		{"port out of range", "filters:\n  a:\n    ingress:\n      - {rule: 1, action: accept, protocol: tcp, destination_ports: 70000}\n", filter.DocConfig,
			[]string{"rule 1", "destination_ports: 70000 is out of range 0..65535"}},
		{"vni out of range", "sessions:\n  16777216: {action: analyze}\n", filter.DocConfig, []string{"f.yaml:2:3", "VNI: 16777216 is out of range 0..16777215"}},
		{"float vni", `{"TrafficMirrorSessions": [{"VirtualNetworkId": 4.5, "TrafficMirrorFilterId": "x"}]}`, filter.DocAWSSessions,
			[]string{"VirtualNetworkId: \"4.5\" is not an integer"}},
		{"forward not a boolean", "filters:\n  a:\n    ingress:\n      - {rule: 2, action: accept, forward: no-thanks}\n", filter.DocConfig,
			[]string{"f.yaml:4:", "rule 2", "forward: expected true or false"}},
		{"bad action", "filters:\n  a:\n    ingress:\n      - {rule: 1, action: allow}\n", filter.DocConfig, []string{"rule 1", `action: "allow" is not one of accept, reject`}},
		{"missing action", "filters:\n  a:\n    ingress:\n      - {rule: 1}\n", filter.DocConfig, []string{"f.yaml:4:9", "rule 1", "missing action"}},
		{"mixed families", "filters:\n  a:\n    ingress:\n      - {rule: 1, action: accept, source: 10.0.0.0/8, destination: \"::/0\"}\n", filter.DocConfig,
			[]string{"rule 1", "different IP versions"}},
		{"undefined filter", "sessions:\n  42: {filter: nope}\n", filter.DocConfig, []string{"f.yaml:2:3", "session 42", `filter "nope" is not defined`}},
		{"filter and action", "sessions:\n  42: {filter: a, action: reject}\n", filter.DocConfig, []string{"f.yaml:2:", "give a filter or an action"}},
		{"duplicate key", "sessions:\n  42: {action: analyze}\n  42: {action: reject}\n", filter.DocConfig, []string{"f.yaml:3:3", `duplicate key "42" (first at line 2)`}},
		{"TrafficDirection mismatch", `{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "a", "IngressFilterRules": [{"RuleNumber": 1, "RuleAction": "accept", "TrafficDirection": "egress"}]}]}`,
			filter.DocAWSFilters, []string{"rule 1", `TrafficDirection "egress" in the ingress rules`}},
		{"unknown network service", "filters:\n  a: {network_services: [amazon-ntp]}\n", filter.DocConfig, []string{"f.yaml:2:", `network service: "amazon-ntp" is not one of amazon-dns`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := filter.NewBuilder()
			b.Add("f.yaml", []byte(tc.doc), tc.kind)
			_, err := b.Build()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (after position %d)", msg, w, at)
				}
				at += i + len(w)
			}
		})
	}
}

// TestAllErrorsReported: one run names every problem, across documents.
func TestAllErrorsReported(t *testing.T) {
	b := filter.NewBuilder()
	b.Add("a.yaml", []byte("filters:\n  a:\n    ingress:\n      - {rule: 1, action: accept, source: 1.2.3.4/40}\n      - {rule: 2, action: maybe}\n"), filter.DocConfig)
	b.Add("b.json", []byte(`{"TrafficMirrorSessions": [{"VirtualNetworkId": -1, "TrafficMirrorFilterId": "a"}]}`), filter.DocAWSSessions)
	_, err := b.Build()
	list, ok := err.(filter.ErrorList)
	if !ok || len(list) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
}

// TestShadowWarnings: rules an earlier rule covers entirely.
func TestShadowWarnings(t *testing.T) {
	doc := `
sessions: {1: {filter: a}}
filters:
  a:
    ingress:
      - {rule: 10, action: accept, protocol: tcp, source: 10.0.0.0/8}
      - {rule: 20, action: reject, protocol: tcp, source: 10.1.0.0/16, destination_ports: 22}
      - {rule: 30, action: accept, protocol: udp, source: 10.1.0.0/16}
      - {rule: 40, action: accept, source: 0.0.0.0/0, destination: 0.0.0.0/0}
      - {rule: 50, action: accept, protocol: icmp, destination: 192.168.0.0/24}
      - {rule: 60, action: accept, destination: "::/0"}
      - {rule: 70, action: accept}
      - {rule: 80, action: reject, protocol: tcp, source_ports: 1-2}
    egress:
      - {rule: 1, action: accept, protocol: udp, destination_ports: 1000-2000}
      - {rule: 2, action: accept, protocol: udp, destination_ports: 1500-2500}
      - {rule: 3, action: accept, protocol: udp, destination_ports: 1500-1600}
`
	b := filter.NewBuilder()
	b.Add("s.yaml", []byte(doc), filter.DocConfig)
	cfg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.Error())
	}
	want := []string{
		`s.yaml:7:9: filter "a" ingress rule 20: can never match: rule 10 (accept) before it matches everything it does; it will never reject`,
		`s.yaml:10:9: filter "a" ingress rule 50: can never match: rule 40 (accept) before it matches everything it does; it is redundant`,
		`s.yaml:13:9: filter "a" ingress rule 80: can never match: rule 70 (accept) before it matches everything it does; it will never reject`,
		`s.yaml:17:9: filter "a" egress rule 3: can never match: rule 1 (accept) before it matches everything it does; it is redundant`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExampleConfig: the documented example loads without warnings.
func TestExampleConfig(t *testing.T) {
	cfg, err := filter.Load("testdata/example.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Warnings {
		t.Errorf("warning: %v", w)
	}
	if len(cfg.Sessions) != 2 || len(cfg.Filters["web-tier"].Rules[filter.Ingress]) != 5 {
		t.Errorf("sessions %d, filters %v", len(cfg.Sessions), cfg.Filters)
	}
}
