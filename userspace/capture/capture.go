// Package capture reads pcap and pcapng files frame by frame for offline
// analysis, with errors that name the file, the frame and what is wrong.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frame is one captured frame.
type Frame struct {
	Index   int       // 1-based, as Wireshark numbers frames
	Time    time.Time // capture timestamp
	Data    []byte    // captured bytes (valid until the next Next call)
	WireLen int       // length on the wire; more than len(Data) when the snaplen cut it
}

// packetReader is what pcapgo's two readers have in common.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader reads Ethernet frames from a pcap or pcapng file.
type Reader struct {
	path    string
	f       *os.File
	pr      packetReader
	ng      *pcapgo.NgReader // set for pcapng, to check each frame's interface
	frames  int              // frames returned
	read    int              // frames read, skipped ones included: frame numbers
	skipped map[int]*Skipped // by pcapng interface index
	Format  string           // "pcap" or "pcapng"
}

// Skipped counts the frames of one pcapng interface that is not Ethernet:
// they cannot be analyzed, and are reported rather than dropped unseen.
type Skipped struct {
	Interface int    // pcapng interface index
	Name      string // its if_name, if any
	LinkType  layers.LinkType
	Frames    int
	Bytes     uint64 // on the wire
	First     int    // frame number of the first one
}

func (s Skipped) String() string {
	name := ""
	if s.Name != "" {
		name = " (" + s.Name + ")"
	}
	return fmt.Sprintf("interface %d%s: %d frame(s) from frame %d skipped: link type %d (%s), vxtap reads Ethernet only",
		s.Interface, name, s.Frames, s.First, int(s.LinkType), s.LinkType)
}

// Skipped lists the non-Ethernet interfaces whose frames Next skipped.
func (r *Reader) Skipped() []Skipped {
	out := make([]Skipped, 0, len(r.skipped))
	for _, s := range r.skipped {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Interface < out[j].Interface })
	return out
}

// Magic numbers at the start of a capture file (as little-endian uint32).
const (
	magicPcapUs   = 0xa1b2c3d4 // pcap, microsecond timestamps
	magicPcapNs   = 0xa1b23c4d // pcap, nanosecond timestamps
	magicPcapngSH = 0x0a0d0d0a // pcapng section header block type
)

// Open opens a capture and checks that it is pcap or pcapng with Ethernet
// frames. "-" is standard input; pipes (/dev/stdin) are read as they come.
func Open(path string) (*Reader, error) {
	if path == "-" {
		r, err := open("standard input", os.Stdin)
		if err != nil {
			return nil, err
		}
		r.f = nil // not ours to close
		return r, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := open(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func open(path string, f *os.File) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a capture file", path)
	}
	// A pipe or terminal has no size to check: its first bytes tell.
	if st.Mode().IsRegular() && st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file, not a pcap or pcapng capture", path)
	}
	r, err := newReader(path, f)
	if err != nil {
		return nil, err
	}
	r.f = f
	return r, nil
}

// newReader reads a capture from src, named path in errors (the fuzz
// target reads from memory).
func newReader(path string, src io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(src, 1<<20)
	head, err := br.Peek(4)
	if err != nil {
		if len(head) == 0 {
			return nil, fmt.Errorf("%s: empty, not a pcap or pcapng capture", path)
		}
		return nil, fmt.Errorf("%s: %d bytes, too short for a capture file header", path, len(head))
	}
	r := &Reader{path: path}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngSH:
		// Mixed link types: frames of a non-Ethernet interface come to
		// Next, which counts them (the default drops them unseen).
		opts := pcapgo.DefaultNgReaderOptions
		opts.WantMixedLinkType = true
		ng, err := pcapgo.NewNgReader(br, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng header: %w", path, describe(err))
		}
		r.pr, r.ng, r.Format = ng, ng, "pcapng"
	case le == magicPcapUs || be == magicPcapUs || le == magicPcapNs || be == magicPcapNs:
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcap header: %w", path, describe(err))
		}
		r.pr, r.Format = pr, "pcap"
		if lt := pr.LinkType(); lt != layers.LinkTypeEthernet {
			return nil, linkTypeError(path, lt)
		}
	default:
		return nil, fmt.Errorf("%s: not a pcap or pcapng capture (starts with % x)", path, head)
	}
	return r, nil
}

func linkTypeError(path string, lt layers.LinkType) error {
	return fmt.Errorf("%s: link type %d (%s): vxtap reads Ethernet captures only (link type 1)", path, int(lt), lt)
}

// describe turns a short read into words.
func describe(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("file ends inside the header")
	}
	return err
}

// Next returns the next frame, or io.EOF after the last one. A capture
// cut short mid-frame is an error naming the frame.
// Frames of a non-Ethernet pcapng interface are skipped and counted
// (Skipped); frame numbers count them, as Wireshark does.
func (r *Reader) Next() (Frame, error) {
	// Bounded by the file: each pass consumes one frame.
	for {
		data, ci, err := r.pr.ZeroCopyReadPacketData()
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		idx := r.read + 1
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return Frame{}, fmt.Errorf("%s: frame %d: capture truncated: the file ends inside the frame (after %d whole frames)", r.path, idx, r.read)
			}
			return Frame{}, fmt.Errorf("%s: frame %d: %w", r.path, idx, err)
		}
		r.read = idx
		if r.ng != nil {
			iface, err := r.ng.Interface(ci.InterfaceIndex)
			if err != nil {
				return Frame{}, fmt.Errorf("%s: frame %d: %w", r.path, idx, err)
			}
			if iface.LinkType != layers.LinkTypeEthernet {
				r.skip(ci.InterfaceIndex, iface, idx, ci.Length)
				continue
			}
		}
		r.frames++
		return Frame{Index: idx, Time: ci.Timestamp, Data: data, WireLen: ci.Length}, nil
	}
}

func (r *Reader) skip(index int, iface pcapgo.NgInterface, frame, wireLen int) {
	if r.skipped == nil {
		r.skipped = map[int]*Skipped{}
	}
	s := r.skipped[index]
	if s == nil {
		s = &Skipped{Interface: index, Name: iface.Name, LinkType: iface.LinkType, First: frame}
		r.skipped[index] = s
	}
	s.Frames++
	s.Bytes += uint64(wireLen)
}

// Frames is how many frames Next has returned.
func (r *Reader) Frames() int { return r.frames }

// Close closes the file (standard input is left open).
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}
