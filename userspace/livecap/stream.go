package livecap

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
)

// The capture stream from the daemon to `vxtap capture`: frames of one
// kind byte, a 4-byte big-endian length and the body. First a header
// (JSON), then packets (binary), then an end frame (JSON) when the
// capture stops on the daemon's side.
const (
	FrameHeader = 'H'
	FramePacket = 'P'
	FrameEnd    = 'E'
	// maxFrame bounds a frame body: a packet is at most MaxSnapLen bytes
	// plus its 40-byte head; JSON frames are small.
	maxFrame = 1 << 20
)

// Header opens the stream.
type Header struct {
	Iface    string            `json:"iface"`
	Filter   string            `json:"filter"`
	SnapLen  uint32            `json:"snaplen"`
	Count    uint64            `json:"count"`
	Slot     int               `json:"slot"`
	Sessions map[uint32]string `json:"sessions"` // VNI -> session name
}

// End closes the stream: why it ended and what was lost on the way.
type End struct {
	Reason    string   `json:"reason"` // "count reached", "daemon stopping", "client stopped", ...
	Counters  Counters `json:"datapath"`
	Delivered uint64   `json:"delivered"`     // copies the daemon queued for this client
	Dropped   uint64   `json:"queue_dropped"` // copies dropped because this client read too slowly
}

// packetHead is the fixed part of a packet frame.
const packetHead = 4 + 8 + 4 + 4 + 1 + 3 + 16

// Writer writes a capture stream.
type Writer struct{ w *bufio.Writer }

// NewWriter writes frames to w; Flush sends them.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

func (w *Writer) frame(kind byte, body []byte) error {
	var h [5]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], uint32(len(body)))
	w.w.Write(h[:])
	_, err := w.w.Write(body)
	return err
}

// JSON writes a header or end frame.
func (w *Writer) JSON(kind byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.frame(kind, b)
}

// Packet writes one copy.
func (w *Writer) Packet(s flow.Sample) error {
	b := make([]byte, packetHead, packetHead+len(s.Data))
	binary.BigEndian.PutUint32(b[0:], s.VNI)
	binary.BigEndian.PutUint64(b[4:], uint64(s.Time.UnixNano()))
	binary.BigEndian.PutUint32(b[12:], s.OrigLen)
	binary.BigEndian.PutUint32(b[16:], s.Rule)
	if s.MirrorSource.IsValid() {
		b[20] = 4
		if s.MirrorSource.Is6() {
			b[20] = 6
		}
		a := s.MirrorSource.As16()
		if s.MirrorSource.Is4() {
			a = [16]byte{}
			v4 := s.MirrorSource.As4()
			copy(a[:], v4[:])
		}
		copy(b[24:40], a[:])
	}
	return w.frame(FramePacket, append(b, s.Data...))
}

// Flush sends what is buffered.
func (w *Writer) Flush() error { return w.w.Flush() }

// Reader reads a capture stream.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader reads frames from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Buffered says whether a frame may be read without waiting (the client
// flushes its output when none is).
func (r *Reader) Buffered() bool { return r.r.Buffered() > 0 }

// ErrTruncated: the stream ended inside a frame.
var ErrTruncated = errors.New("capture stream cut inside a frame")

// Next reads one frame: its kind and body (valid until the next call).
func (r *Reader) Next() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("capture stream: frame of %d bytes (kind %q), more than %d", n, h[0], maxFrame)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	r.buf = r.buf[:n]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return 0, nil, ErrTruncated
	}
	return h[0], r.buf, nil
}

// DecodePacket reads a packet frame's body into a sample (Data aliases body).
func DecodePacket(body []byte) (flow.Sample, error) {
	if len(body) < packetHead {
		return flow.Sample{}, fmt.Errorf("capture stream: packet frame of %d bytes, shorter than its %d-byte head", len(body), packetHead)
	}
	s := flow.Sample{
		VNI:     binary.BigEndian.Uint32(body[0:]),
		Time:    time.Unix(0, int64(binary.BigEndian.Uint64(body[4:]))),
		OrigLen: binary.BigEndian.Uint32(body[12:]),
		Rule:    binary.BigEndian.Uint32(body[16:]),
		Data:    body[packetHead:],
	}
	switch body[20] {
	case 4:
		s.MirrorSource = netip.AddrFrom4([4]byte(body[24:28]))
	case 6:
		s.MirrorSource = netip.AddrFrom16([16]byte(body[24:40]))
	}
	return s, nil
}
