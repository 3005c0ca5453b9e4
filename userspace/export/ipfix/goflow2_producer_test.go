package ipfix

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
	"github.com/vxtap/vxtap/userspace/testutil"
	"gopkg.in/yaml.v3"
)

// docsMapping is the goflow2 mapping docs/IPFIX.md gives, so the test
// checks the documentation too.
func docsMapping(t *testing.T) protoproducer.ProducerConfig {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "IPFIX.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/IPFIX.md has no yaml block (the goflow2 mapping)")
	}
	var cfg protoproducer.ProducerConfig
	if err := yaml.Unmarshal(m[1], &cfg); err != nil {
		t.Fatalf("docs/IPFIX.md goflow2 mapping: %v", err)
	}
	return cfg
}

// TestGoflow2ProducerReadsEveryRecord: goflow2's own flow producer, with
// the mapping from docs/IPFIX.md, turns every record into a flow message
// with the sampling rate 1 the options record declares, the VNI as in_if
// and in layer2SegmentId, the session name, addresses and counters.
func TestGoflow2ProducerReadsEveryRecord(t *testing.T) {
	cfg := docsMapping(t)
	compiled, err := cfg.Compile()
	if err != nil {
		t.Fatal(err)
	}
	prod, err := protoproducer.CreateProtoProducer(compiled, protoproducer.CreateSamplingSystem)
	if err != nil {
		t.Fatal(err)
	}
	conn := &datagramConn{}
	e := udpExporter(t, conn, &fakeClock{t: time.Unix(1_800_000_000, 0)}, 1500)
	rs := testRecords(120)
	if err := e.WriteBatch(context.Background(), batch(1, rs)); err != nil {
		t.Fatal(err)
	}
	templates := netflow.CreateTemplateSystem()
	var got []map[string]any
	for i, m := range conn.messages() {
		var v9 netflow.NFv9Packet
		var p netflow.IPFIXPacket
		if err := netflow.DecodeMessageVersion(bytes.NewBuffer(m), templates, &v9, &p); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		msgs, err := prod.Produce(&p, &producer.ProduceArgs{SamplerAddress: netip.MustParseAddr("198.18.0.2"), TimeReceived: time.Now()})
		if err != nil {
			t.Fatalf("message %d: goflow2 producer: %v", i, err)
		}
		for _, fm := range msgs {
			b, err := json.Marshal(fm)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				t.Fatalf("goflow2 JSON %s: %v", b, err)
			}
			got = append(got, v)
		}
	}
	if len(got) != len(rs) {
		t.Fatalf("goflow2 produced %d flow messages, want %d", len(got), len(rs))
	}
	for i, r := range rs {
		g := got[i]
		num := func(k string) uint64 {
			n, ok := g[k].(json.Number)
			if !ok {
				t.Fatalf("record %d: %s = %#v", i, k, g[k])
			}
			u, err := strconv.ParseUint(string(n), 10, 64)
			if err != nil {
				t.Fatalf("record %d: %s = %s: %v", i, k, n, err)
			}
			return u
		}
		if num("sampling_rate") != 1 || num("in_if") != uint64(r.VNI) || num("vni_segment") != 1<<56|uint64(r.VNI) ||
			num("bytes") != r.Bytes || num("packets") != r.Packets || g["src_addr"] != r.Src.String() ||
			g["dst_addr"] != r.Dst.String() || g["session"] != r.Session {
			t.Errorf("record %d: goflow2 %v, sent VNI %d %s -> %s session %q %d packets %d bytes", i, g, r.VNI, r.Src, r.Dst, r.Session, r.Packets, r.Bytes)
		}
	}
}
