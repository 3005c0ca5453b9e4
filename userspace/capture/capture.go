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
	path   string
	f      *os.File
	pr     packetReader
	ng     *pcapgo.NgReader // set for pcapng, to check each frame's interface
	frames int
	Format string // "pcap" or "pcapng"
}

// Magic numbers at the start of a capture file (as little-endian uint32).
const (
	magicPcapUs   = 0xa1b2c3d4 // pcap, microsecond timestamps
	magicPcapNs   = 0xa1b23c4d // pcap, nanosecond timestamps
	magicPcapngSH = 0x0a0d0d0a // pcapng section header block type
)

// Open opens a capture and checks that it is pcap or pcapng with Ethernet
// frames.
func Open(path string) (*Reader, error) {
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
	if st.Size() == 0 {
		return nil, fmt.Errorf("%s: empty file, not a pcap or pcapng capture", path)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%s: %d bytes, too short for a capture file header", path, st.Size())
	}
	r := &Reader{path: path, f: f}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngSH:
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%s: bad pcapng header: %w", path, describe(err))
		}
		r.pr, r.ng, r.Format = ng, ng, "pcapng"
		if lt := ng.LinkType(); lt != layers.LinkTypeEthernet {
			return nil, linkTypeError(path, lt)
		}
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
func (r *Reader) Next() (Frame, error) {
	data, ci, err := r.pr.ZeroCopyReadPacketData()
	if err == io.EOF {
		return Frame{}, io.EOF
	}
	idx := r.frames + 1
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("%s: frame %d: capture truncated: the file ends inside the frame (after %d whole frames)", r.path, idx, r.frames)
		}
		return Frame{}, fmt.Errorf("%s: frame %d: %w", r.path, idx, err)
	}
	if r.ng != nil {
		iface, err := r.ng.Interface(ci.InterfaceIndex)
		if err != nil {
			return Frame{}, fmt.Errorf("%s: frame %d: %w", r.path, idx, err)
		}
		if iface.LinkType != layers.LinkTypeEthernet {
			return Frame{}, fmt.Errorf("%s: frame %d: %w", r.path, idx, linkTypeError("interface "+iface.Name, iface.LinkType))
		}
	}
	r.frames = idx
	return Frame{Index: idx, Time: ci.Timestamp, Data: data, WireLen: ci.Length}, nil
}

// Frames is how many frames Next has returned.
func (r *Reader) Frames() int { return r.frames }

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
