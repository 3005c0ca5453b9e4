// Package pcapng writes the sampled inner frames of the ring buffer to a
// pcapng file Wireshark, tshark, Suricata and Zeek read directly. Each VNI
// gets its own pcapng interface ("vni-42") and every packet carries a
// comment with its VNI and the rule that sampled it, so the mirror session
// context survives the decapsulation.
package pcapng

import (
	"fmt"
	"io"
	"runtime"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vxtap/vxtap/userspace/flow"
)

// Writer appends samples to a pcapng stream. Not safe for concurrent use.
type Writer struct {
	w       *pcapgo.NgWriter
	ifaces  map[uint32]int // VNI -> pcapng interface id
	snapLen uint32
	// Names, if set, names the session of a VNI in its interface description.
	Names func(vni uint32) string
	// SessionNames names each VNI's interface after its session (from
	// Names) instead of "vni-N", as `vxtap capture` does.
	SessionNames bool
	Written      uint64
}

// NewWriter starts a pcapng section on w. The first interface is a
// placeholder gopacket requires; samples go to one interface per VNI.
func NewWriter(w io.Writer, snapLen uint32) (*Writer, error) {
	intf := pcapgo.NgInterface{Name: "vxtap", Description: "vxtap samples (one interface per VNI follows)",
		LinkType: layers.LinkTypeEthernet, SnapLength: snapLen, TimestampResolution: 9, OS: runtime.GOOS}
	nw, err := pcapgo.NewNgWriterInterface(w, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware: runtime.GOARCH, OS: runtime.GOOS, Application: "vxtap",
		Comment: "inner frames of AWS VPC Traffic Mirroring copies, VXLAN removed"}})
	if err != nil {
		return nil, fmt.Errorf("start pcapng: %w", err)
	}
	return &Writer{w: nw, ifaces: map[uint32]int{}, snapLen: snapLen}, nil
}

// Write appends one sample.
func (w *Writer) Write(s flow.Sample) error {
	id, ok := w.ifaces[s.VNI]
	if !ok {
		desc := fmt.Sprintf("VXLAN VNI %d", s.VNI)
		name := fmt.Sprintf("vni-%d", s.VNI)
		if w.Names != nil {
			if n := w.Names(s.VNI); n != "" {
				desc += " (session " + n + ")"
				if w.SessionNames {
					name = n
				}
			}
		}
		var err error
		id, err = w.w.AddInterface(pcapgo.NgInterface{Name: name, Description: desc,
			LinkType: layers.LinkTypeEthernet, SnapLength: w.snapLen, TimestampResolution: 9, OS: runtime.GOOS})
		if err != nil {
			return fmt.Errorf("pcapng interface for VNI %d: %w", s.VNI, err)
		}
		w.ifaces[s.VNI] = id
	}
	comment := fmt.Sprintf("vni=%d", s.VNI)
	if s.MirrorSource.IsValid() {
		comment += " mirror=" + s.MirrorSource.String()
	}
	if s.Rule != 0 {
		comment += fmt.Sprintf(" rule=%d", s.Rule)
	}
	ci := gopacket.CaptureInfo{Timestamp: s.Time, CaptureLength: len(s.Data), Length: int(s.OrigLen), InterfaceIndex: id}
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	if err := w.w.WritePacketWithOptions(ci, s.Data, pcapgo.NgPacketOptions{Comments: []string{comment}}); err != nil {
		return fmt.Errorf("write sample: %w", err)
	}
	w.Written++
	return nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }
