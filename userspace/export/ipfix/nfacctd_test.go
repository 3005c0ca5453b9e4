package ipfix

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestNfacctdShowsVNI: nfacctd (pmacct) decodes the export and prints
// the VNI of every flow, IPv4 and IPv6, twice: as the input interface
// (in_iface) and inside layer2SegmentId (segment type 0x01, VXLAN), with
// the packets and bytes sent.
func TestNfacctdShowsVNI(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.Netns(t, "vxipnfa")
	col := testutil.StartNfacctd(t, ns, 4740)
	rs := collectorRecords(400)
	sendAll(t, ns, "udp", "127.0.0.1:4740", rs)
	time.Sleep(200 * time.Millisecond)

	type seen struct {
		packets, bytes uint64
		l2seg          string
	}
	got := map[nfKey]seen{}
	for _, row := range col.Stop(t) {
		num := func(name string) uint64 {
			v, err := strconv.ParseUint(row[name], 10, 64)
			if err != nil {
				t.Fatalf("nfacctd %s in %v: %v", name, row, err)
			}
			return v
		}
		k := nfKey{src: row["SRC_IP"], dst: row["DST_IP"], sport: uint16(num("SRC_PORT")), dport: uint16(num("DST_PORT")),
			proto: protoNumber(t, row["PROTOCOL"]), in: uint32(num("IN_IFACE"))}
		c := got[k]
		c.packets += num("PACKETS")
		c.bytes += num("BYTES")
		c.l2seg = row["l2segid"]
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
