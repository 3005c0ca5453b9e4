package loader

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// vxlanUDP builds Ethernet/IPv4/UDP 4789/VXLAN(vni)/Ethernet/IPv4/UDP.
func vxlanUDP(t *testing.T, vni uint32, sport uint16) []byte {
	t.Helper()
	outerEth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	outerIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 18, 0, 1}, DstIP: []byte{198, 18, 0, 2}}
	outerUDP := &layers.UDP{SrcPort: 50000, DstPort: 4789}
	vx := &layers.VXLAN{ValidIDFlag: true, VNI: vni}
	innerEth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 1, 1}, DstMAC: []byte{2, 0, 0, 0, 1, 2}, EthernetType: layers.EthernetTypeIPv4}
	innerIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{198, 19, 0, 1}, DstIP: []byte{198, 19, 0, 2}}
	innerUDP := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: 53}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		outerEth, outerIP, outerUDP, vx, innerEth, innerIP, innerUDP, gopacket.Payload([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPinnedMapsHaveBTF: bpftool prints the pinned flow index and the flow
// slot it points to with their C field names.
func TestPinnedMapsHaveBTF(t *testing.T) {
	testutil.RequirePrivileged(t)
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		t.Fatal("bpftool not installed (scripts/deps.sh installs it)")
	}
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("vxtap-test-%d", os.Getpid()))
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := DefaultConfig()
	cfg.PinPath = dir
	cfg.FlowTableSize = 1024
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.RunPacket(vxlanUDP(t, 4242, 3333), time.Now()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bpftool, "-j", "map", "dump", "pinned", filepath.Join(dir, "flow_index")).Output()
	if err != nil {
		t.Fatalf("bpftool map dump flow_index: %v", err)
	}
	var buckets []struct {
		Formatted struct {
			Value struct {
				Lock float64   `json:"lock"`
				Ent  []float64 `json:"ent"`
			} `json:"value"`
		} `json:"formatted"`
	}
	if err := json.Unmarshal(out, &buckets); err != nil {
		t.Fatalf("bpftool output %s: %v", out, err)
	}
	var ents []uint32
	for _, b := range buckets {
		for _, e := range b.Formatted.Value.Ent {
			if e != 0 {
				ents = append(ents, uint32(e))
			}
		}
	}
	if len(buckets) != int(flowBuckets(cfg.FlowTableSize)) || len(ents) != 1 {
		t.Fatalf("want 1 flow in %d buckets, bpftool shows %d in %d", flowBuckets(cfg.FlowTableSize), len(ents), len(buckets))
	}
	// The slot the index names: counters and the key, by name.
	idx := ents[0]&entrySlotMask - 1
	args := []string{"-j", "map", "lookup", "pinned", filepath.Join(dir, "flow_slots"), "key"}
	for i := 0; i < 4; i++ {
		args = append(args, fmt.Sprint(byte(idx>>(8*i))))
	}
	out, err = exec.Command(bpftool, args...).Output()
	if err != nil {
		t.Fatalf("bpftool map lookup flow_slots: %v", err)
	}
	var slot struct {
		Formatted struct {
			Value struct {
				Packets float64        `json:"packets"`
				State   float64        `json:"state"`
				Key     map[string]any `json:"key"`
			} `json:"value"`
		} `json:"formatted"`
	}
	if err := json.Unmarshal(out, &slot); err != nil {
		t.Fatalf("bpftool output %s: %v", out, err)
	}
	v := slot.Formatted.Value
	if v.Packets != 1 || v.State != float64(VxtapFlowSlotStateFLOW_SLOT_LIVE) || v.Key["vni"] != float64(4242) {
		t.Errorf("slot %d by name: %s", idx, out)
	}
	if k := v.Key; k["sport"] != float64(3333) || k["dport"] != float64(53) || k["proto"] != float64(17) {
		t.Errorf("key fields by name: %v", k)
	}
}
