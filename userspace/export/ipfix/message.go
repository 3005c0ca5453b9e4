package ipfix

import "encoding/binary"

const (
	version      = 10 // IPFIX
	headerLen    = 16 // message header (RFC 7011 §3.1)
	setHeaderLen = 4  // set header (§3.3.2)
)

// message packs records into sets, and sets into one IPFIX message of
// at most max octets. Records of the same set ID in a row share a set.
type message struct {
	buf     []byte
	max     int
	setID   uint16 // the open set, 0 = none
	setAt   int    // offset of the open set's header
	flows   uint32 // flow data records
	options uint32 // options data records (both kinds of data record advance the sequence number)
}

// kind is what a record is to the sequence number: template records do
// not count, data records of both kinds do (RFC 7011 §3.1).
type kind uint8

const (
	kindTemplate kind = iota // template or options template record
	kindOptions              // options data record
	kindFlow                 // flow data record
)

func newMessage(max int) *message {
	m := &message{max: max, buf: make([]byte, 0, max)}
	m.reset()
	return m
}

// reset empties the message, leaving room for its header.
func (m *message) reset() {
	m.buf = append(m.buf[:0], make([]byte, headerLen)...)
	m.setID, m.setAt, m.flows, m.options = 0, 0, 0, 0
}

func (m *message) empty() bool { return len(m.buf) == headerLen }

// add appends one record of kind k to a set of setID, opening the set if
// the previous record was of another. It returns false, changing
// nothing, when the record does not fit.
func (m *message) add(setID uint16, rec []byte, k kind) bool {
	need := len(rec)
	if m.setID != setID {
		need += setHeaderLen
	}
	if len(m.buf)+need > m.max {
		return false
	}
	if m.setID != setID {
		m.closeSet()
		m.setID, m.setAt = setID, len(m.buf)
		m.buf = binary.BigEndian.AppendUint16(m.buf, setID)
		m.buf = append(m.buf, 0, 0)
	}
	m.buf = append(m.buf, rec...)
	switch k {
	case kindFlow:
		m.flows++
	case kindOptions:
		m.options++
	}
	return true
}

// closeSet writes the open set's length.
func (m *message) closeSet() {
	if m.setID != 0 {
		binary.BigEndian.PutUint16(m.buf[m.setAt+2:], uint16(len(m.buf)-m.setAt))
	}
}

// finish writes the header and returns the message's bytes, valid until
// the next reset. seq is the number of data records sent before this
// message in the session (§3.1).
func (m *message) finish(exportTime, seq, domain uint32) []byte {
	m.closeSet()
	b := m.buf
	binary.BigEndian.PutUint16(b[0:], version)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint32(b[4:], exportTime)
	binary.BigEndian.PutUint32(b[8:], seq)
	binary.BigEndian.PutUint32(b[12:], domain)
	return b
}
