package ipfix

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// nfacctdConfig has pmacct's print plugin write every flow, keyed by its
// 5-tuple, input interface (our VNI) and layer2SegmentId, as CSV to out, appending at each refresh. pmacct 1.7.7's own "vxlan"
// primitive is not used: it decodes layer2SegmentId wrongly (see
// docs/IPFIX.md), so the element is read as a custom primitive.
const nfacctdConfig = `daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: 4740
aggregate_primitives: %s
plugins: print[flows]
aggregate[flows]: src_host, dst_host, src_port, dst_port, proto, in_iface, l2segid
print_output[flows]: csv
print_output_file[flows]: %s
print_output_file_append[flows]: true
print_refresh_time[flows]: 1
`

// nfacctdPrimitives reads layer2SegmentId as a 64-bit number printed in
// hex. (Variable-length strings such as the session name are not
// printed by pmacct 1.7.7's print plugin.)
const nfacctdPrimitives = `name=l2segid field_type=351 len=8 semantics=hex
`

// TestNfacctdShowsVNI: nfacctd (pmacct) decodes the export and prints
// the VNI of every flow, IPv4 and IPv6, twice: as the input interface
// (in_iface) and inside layer2SegmentId (segment type 0x01, VXLAN), with
// the packets and bytes sent.
func TestNfacctdShowsVNI(t *testing.T) {
	testutil.RequirePrivileged(t)
	nfacctd := testutil.RequireTool(t, "nfacctd", "pmacct")
	ns := testutil.Netns(t, "vxipnfa")
	dir := t.TempDir()
	out := filepath.Join(dir, "flows.csv")
	conf := filepath.Join(dir, "nfacctd.conf")
	prims := filepath.Join(dir, "primitives.lst")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nfacctdConfig, prims, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prims, []byte(nfacctdPrimitives), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := testutil.StartInNetns(t, ns, nfacctd, "-f", conf)
	testutil.WaitListening(t, ns, "udp", 4740, 10*time.Second)

	rs := collectorRecords(400)
	sendAll(t, ns, "udp", "127.0.0.1:4740", rs)
	time.Sleep(2500 * time.Millisecond) // two print refreshes
	srv.Stop(t, syscall.SIGINT, 20*time.Second)

	csv, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("nfacctd wrote no output: %v\n%s", err, srv.Output())
	}
	type seen struct {
		packets, bytes uint64
		l2seg          string
	}
	got := map[nfKey]seen{}
	var cols map[string]int
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n") {
		f := strings.Split(line, ",")
		if strings.HasPrefix(line, "IN_IFACE") {
			cols = map[string]int{}
			for i, c := range f {
				cols[c] = i
			}
			continue
		}
		col := func(name string) string {
			i, ok := cols[name]
			if !ok || i >= len(f) {
				t.Fatalf("nfacctd CSV has no column %s: %q", name, line)
			}
			return f[i]
		}
		num := func(name string) uint64 {
			v, err := strconv.ParseUint(col(name), 10, 64)
			if err != nil {
				t.Fatalf("nfacctd %s in %q: %v", name, line, err)
			}
			return v
		}
		k := nfKey{src: col("SRC_IP"), dst: col("DST_IP"), sport: uint16(num("SRC_PORT")), dport: uint16(num("DST_PORT")),
			proto: protoNumber(t, col("PROTOCOL")), in: uint32(num("IN_IFACE"))}
		c := got[k]
		c.packets += num("PACKETS")
		c.bytes += num("BYTES")
		c.l2seg = col("l2segid")
		got[k] = c
	}
	for _, r := range rs {
		k := keyOf(r)
		c, ok := got[k]
		if !ok {
			t.Errorf("nfacctd lacks %v (VNI %d)", k, r.VNI)
			continue
		}
		delete(got, k)
		if c.packets != r.Packets || c.bytes != r.Bytes {
			t.Errorf("%v: nfacctd %d packets %d bytes, sent %d %d", k, c.packets, c.bytes, r.Packets, r.Bytes)
		}
		// layer2SegmentId: VXLAN (0x01) in the top octet, the VNI below.
		if want := strconv.FormatUint(1<<56|uint64(r.VNI), 16); c.l2seg != want {
			t.Errorf("%v: nfacctd layer2SegmentId %s, want %s (VNI %d)", k, c.l2seg, want, r.VNI)
		}
	}
	for k := range got {
		t.Errorf("nfacctd shows a flow not sent: %v", k)
	}
}

// protoNumber reads a collector's protocol column: a name or a number.
func protoNumber(t *testing.T, s string) uint8 {
	t.Helper()
	switch strings.ToLower(s) {
	case "tcp":
		return 6
	case "udp":
		return 17
	case "icmp":
		return 1
	case "icmp6", "ipv6-icmp", "icmpv6":
		return 58
	}
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		t.Fatalf("protocol %q", s)
	}
	return uint8(v)
}
