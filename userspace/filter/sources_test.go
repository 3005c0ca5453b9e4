package filter_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
)

// TestAllowedSources: the allowed_sources key is read; a bad CIDR is an
// error naming file and line; AWS session documents imply none.
func TestAllowedSources(t *testing.T) {
	b := filter.NewBuilder()
	b.Add("cfg.yaml", []byte("allowed_sources: [10.0.0.0/16, \"2001:db8::/32\"]\nsessions:\n  42: {action: analyze}\n"), filter.DocConfig)
	cfg, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	if len(cfg.AllowedSources) != 2 || cfg.AllowedSources[0] != want[0] || cfg.AllowedSources[1] != want[1] {
		t.Errorf("allowed_sources %v, want %v", cfg.AllowedSources, want)
	}
	b = filter.NewBuilder()
	b.Add("bad.yaml", []byte("sessions:\n  42: {action: analyze}\nallowed_sources: [10.0.0.0/16, 10.1.0.0/99]\n"), filter.DocConfig)
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "bad.yaml:3") || !strings.Contains(err.Error(), "allowed_sources") {
		t.Errorf("bad CIDR: error %v, want one naming bad.yaml:3 and allowed_sources", err)
	}
	b = filter.NewBuilder()
	b.Add("s.json", []byte(`{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "NetworkInterfaceId": "eni-1", "VirtualNetworkId": 5, "TrafficMirrorFilterId": "tmf-1", "SessionNumber": 1}],
"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-1", "IngressFilterRules": [], "EgressFilterRules": []}]}`), filter.DocConfig)
	cfg, err = b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AllowedSources) != 0 {
		t.Errorf("AWS documents gave allowed sources %v", cfg.AllowedSources)
	}
	if cfg.Default.Mode != filter.ModeUnknownVNI {
		t.Errorf("sessions without a default: default %s, want unknown_vni", cfg.Default.Mode)
	}
}
