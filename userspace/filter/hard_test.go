package filter_test

import (
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
)

// TestVNIKeyDecimal: the VNI key 042 used to be read as octal (34). It is
// decimal 42; a hex or octal spelling is refused naming file:line.
func TestVNIKeyDecimal(t *testing.T) {
	b := filter.NewBuilder()
	b.Add("f.yaml", []byte("sessions:\n  042: {action: analyze}\n"), filter.DocConfig)
	cfg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sessions) != 1 || cfg.Sessions[0].VNI != 42 {
		t.Fatalf("sessions %+v, want VNI 42", cfg.Sessions)
	}
	for _, doc := range []string{"sessions:\n  0x2a: {action: analyze}\n", "sessions:\n  0o52: {action: analyze}\n"} {
		b := filter.NewBuilder()
		b.Add("f.yaml", []byte(doc), filter.DocConfig)
		if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "f.yaml:2:") || !strings.Contains(err.Error(), "decimal") {
			t.Errorf("%q: %v, want an error at f.yaml:2 asking for decimal", doc, err)
		}
	}
}

// TestAWSBadRuleNoCascade: one bad rule in an AWS filter used to also
// report "filter not defined" for every session using the filter. Only the
// real error is reported.
func TestAWSBadRuleNoCascade(t *testing.T) {
	b := filter.NewBuilder()
	b.Add("filters.json", []byte(`{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-a",
  "IngressFilterRules": [{"RuleNumber": 1, "RuleAction": "accept", "Protocol": 300}]}]}`), filter.DocAWSFilters)
	b.Add("sessions.json", []byte(`{"TrafficMirrorSessions": [
  {"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-a", "VirtualNetworkId": 1},
  {"TrafficMirrorSessionId": "tms-2", "TrafficMirrorFilterId": "tmf-a", "VirtualNetworkId": 2}]}`), filter.DocAWSSessions)
	_, err := b.Build()
	list, ok := err.(filter.ErrorList)
	if !ok || len(list) != 1 || !strings.Contains(list[0].Error(), "Protocol") {
		t.Fatalf("errors %v, want only the bad rule's", err)
	}
	// A session naming a filter nobody defined is still an error.
	b = filter.NewBuilder()
	b.Add("sessions.json", []byte(`{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-x", "VirtualNetworkId": 1}]}`), filter.DocAWSSessions)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `filter "tmf-x" is not defined`) {
		t.Fatalf("undefined filter: %v", err)
	}
}

// TestAWSUnknownFieldsIgnored: fields AWS adds over time used to be
// refused. They are ignored, at every level, and listed in Ignored with
// their place (for a debug log).
func TestAWSUnknownFieldsIgnored(t *testing.T) {
	b := filter.NewBuilder()
	b.Add("filters.json", []byte(`{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-a", "NewFilterField": {"x": 1},
  "IngressFilterRules": [{"RuleNumber": 1, "RuleAction": "accept", "Protocol": 6, "NewRuleField": true,
    "DestinationPortRange": {"FromPort": 80, "ToPort": 80, "NewPortField": 0}}]}], "NewTopField": []}`), filter.DocAWSFilters)
	b.Add("sessions.json", []byte(`{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-a",
  "VirtualNetworkId": 7, "NewSessionField": "y"}]}`), filter.DocAWSSessions)
	cfg, err := b.Build()
	if err != nil {
		t.Fatalf("unknown AWS fields refused: %v", err)
	}
	if s := cfg.Session(7); s == nil || s.Filter != "tmf-a" || len(cfg.Filters["tmf-a"].Rules[filter.Ingress]) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	var notes []string
	for _, n := range cfg.Ignored {
		notes = append(notes, n.Error())
	}
	all := strings.Join(notes, "\n")
	for _, f := range []string{"NewFilterField", "NewRuleField", "NewPortField", "NewTopField", "NewSessionField"} {
		if !strings.Contains(all, `"`+f+`"`) {
			t.Errorf("ignored fields %q: %s not listed", all, f)
		}
	}
	if !strings.Contains(all, "filters.json:2:") {
		t.Errorf("ignored fields %q: want their places", all)
	}
	// vxtap's own YAML still refuses a typo.
	b = filter.NewBuilder()
	b.Add("f.yaml", []byte("sessions:\n  42: {action: analyze, actoin: x}\n"), filter.DocConfig)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `unknown field "actoin"`) {
		t.Errorf("a typo in the YAML format: %v", err)
	}
}
