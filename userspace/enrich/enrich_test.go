package enrich

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/flow"
)

func load(t *testing.T, yaml string) *filter.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := filter.Load(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEnrichFromConfig: session name and ENI from the YAML sessions; an
// unnamed session gets vni-N; a VNI with no session says "-"; a reload
// replaces the table.
func TestEnrichFromConfig(t *testing.T) {
	var s Sessions
	r := flow.Record{VNI: 42}
	s.Enrich(&r)
	if r.Session != NoSession {
		t.Errorf("no configuration: session %q, want %q", r.Session, NoSession)
	}
	s.Set(FromConfig(load(t, "sessions:\n  42: {name: web-1, eni: eni-0123456789abcdef0, action: analyze}\n  43: {action: analyze}\n")))
	for vni, want := range map[uint32][2]string{42: {"web-1", "eni-0123456789abcdef0"}, 43: {"vni-43", ""}, 44: {NoSession, ""}} {
		r := flow.Record{VNI: vni, ENI: "stale"}
		s.Enrich(&r)
		if r.Session != want[0] || r.ENI != want[1] {
			t.Errorf("vni %d: session %q eni %q, want %q %q", vni, r.Session, r.ENI, want[0], want[1])
		}
	}
	s.Set(FromConfig(load(t, "sessions:\n  44: {name: db-1, action: analyze}\n")))
	if n := s.Name(42); n != NoSession {
		t.Errorf("after reload vni 42 is %q", n)
	}
	if n := s.Name(44); n != "db-1" {
		t.Errorf("after reload vni 44 is %q", n)
	}
}

// TestEnrichFromAWS: the AWS CLI session documents give the session id,
// the ENI and the session number.
func TestEnrichFromAWS(t *testing.T) {
	dir := t.TempDir()
	sess := filepath.Join(dir, "s.json")
	os.WriteFile(sess, []byte(`{"TrafficMirrorSessions":[{"TrafficMirrorSessionId":"tms-0abc","TrafficMirrorTargetId":"tmt-1",
"TrafficMirrorFilterId":"tmf-1","NetworkInterfaceId":"eni-0fff","OwnerId":"1","PacketLength":8500,"SessionNumber":3,"VirtualNetworkId":77}]}`), 0o600)
	filt := filepath.Join(dir, "f.json")
	os.WriteFile(filt, []byte(`{"TrafficMirrorFilters":[{"TrafficMirrorFilterId":"tmf-1","IngressFilterRules":[],"EgressFilterRules":[],"NetworkServices":[]}]}`), 0o600)
	cfg, err := filter.Load("", []string{filt}, []string{sess})
	if err != nil {
		t.Fatal(err)
	}
	m := FromConfig(cfg)
	if got := m[77]; got != (Session{Name: "tms-0abc", ENI: "eni-0fff", Filter: "tmf-1", Number: 3}) {
		t.Errorf("AWS session: %+v", got)
	}
}

// TestDashNameRefused: "-" is the no-session marker, not a name.
func TestDashNameRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("sessions:\n  42: {name: \"-\", action: analyze}\n"), 0o600)
	if _, err := filter.Load(p, nil, nil); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("name \"-\": %v", err)
	}
}
