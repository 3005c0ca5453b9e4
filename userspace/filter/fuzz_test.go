package filter_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vxtap/vxtap/userspace/filter"
)

// build loads the documents and, when they are valid, compiles and
// explains them: any input is a configuration or a list of errors.
func build(t *testing.T, docs map[filter.DocKind][]byte) {
	b := filter.NewBuilder()
	for kind, d := range docs {
		b.Add("doc", d, kind)
	}
	cfg, err := b.Build()
	if err != nil {
		if err.Error() == "" {
			t.Fatal("an error with no message")
		}
		return
	}
	filter.Compile(cfg)
}

// FuzzConfigYAML: vxtap's YAML configuration format.
func FuzzConfigYAML(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "example.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("sessions:\n  042: {filter: a, addresses: [198.19.0.1]}\nfilters:\n  a:\n    ingress:\n      - {rule: 1, action: accept, protocol: tcp, destination_ports: 80-90, source: 198.18.0.0/15}\n"))
	f.Add([]byte("default: {action: reject}\nvpc_cidrs: [198.18.0.0/16]\namazon_dns: [2001:db8::2]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		build(t, map[filter.DocKind][]byte{filter.DocConfig: doc})
	})
}

// FuzzAWSJSON: the documents `aws ec2 describe-traffic-mirror-filters` and
// `describe-traffic-mirror-sessions` print.
func FuzzAWSJSON(f *testing.F) {
	// testdata/fuzz/FuzzAWSJSON holds the AWS CLI-shaped documents of the lab as seeds.
	f.Add([]byte(`{"TrafficMirrorFilters": [{"TrafficMirrorFilterId": "tmf-a", "New": 1, "IngressFilterRules": [{"RuleNumber": 1, "RuleAction": "accept", "Protocol": 6, "DestinationPortRange": {"FromPort": 80, "ToPort": 80}, "DestinationCidrBlock": "0.0.0.0/0"}], "NetworkServices": ["amazon-dns"]}]}`),
		[]byte(`{"TrafficMirrorSessions": [{"TrafficMirrorSessionId": "tms-1", "TrafficMirrorFilterId": "tmf-a", "VirtualNetworkId": 42, "PacketLength": 100, "SessionNumber": 1}]}`))
	f.Fuzz(func(t *testing.T, filters, sessions []byte) {
		build(t, map[filter.DocKind][]byte{filter.DocAWSFilters: filters, filter.DocAWSSessions: sessions})
	})
}
