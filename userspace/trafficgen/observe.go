package trafficgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"golang.org/x/sys/unix"
)

// Count is what crossed a mirrored interface for one flow.
type Count struct {
	Packets uint64
	Bytes   uint64 // inner IP lengths as the headers state them
}

// observer counts every IP packet crossing one interface, both directions,
// with an AF_PACKET socket: the packets tc mirrors are exactly these.
type observer struct {
	fd     int
	vni    uint32
	mu     sync.Mutex
	counts map[flow.Key]*Count
	last   time.Time // when the last packet was seen
	nonIP  uint64
	done   chan struct{}
	err    error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// observe opens the socket inside ns and starts counting.
func observe(ns, iface string, vni uint32) (*observer, error) {
	o := &observer{vni: vni, counts: map[flow.Key]*Count{}, done: make(chan struct{})}
	err := inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		o.fd = fd
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if o.fd > 0 {
			unix.Close(o.fd)
		}
		return nil, fmt.Errorf("observe %s in %s: %w", iface, ns, err)
	}
	return o, nil
}

// run reads until stop is closed.
func (o *observer) run(stop <-chan struct{}) {
	defer close(o.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, _, err := unix.Recvfrom(o.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			o.err = err
			return
		}
		o.add(buf[:n])
	}
}

// add counts one Ethernet frame by its inner IP flow.
func (o *observer) add(fr []byte) {
	k, ipLen, ok := flowOf(fr)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = time.Now()
	if !ok {
		o.nonIP++
		return
	}
	k.VNI = o.vni
	c := o.counts[k]
	if c == nil {
		c = &Count{}
		o.counts[k] = c
	}
	c.Packets++
	c.Bytes += uint64(ipLen)
}

// flowOf reads the one-way flow key and stated IP length of a frame
// (Ethernet, optionally one VLAN tag, IPv4 or IPv6 without extension
// headers: what the generator sends).
func flowOf(fr []byte) (flow.Key, int, bool) {
	var k flow.Key
	if len(fr) < 14 {
		return k, 0, false
	}
	et, off := binary.BigEndian.Uint16(fr[12:]), 14
	if et == 0x8100 && len(fr) >= 18 {
		et, off = binary.BigEndian.Uint16(fr[16:]), 18
	}
	var l4 []byte
	var ipLen int
	switch et {
	case 0x0800:
		if len(fr) < off+20 {
			return k, 0, false
		}
		ip := fr[off:]
		ihl := int(ip[0]&0x0f) * 4
		ipLen = int(binary.BigEndian.Uint16(ip[2:]))
		k.Proto = ip[9]
		k.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		k.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		if binary.BigEndian.Uint16(ip[6:])&0x1fff == 0 && len(ip) >= ihl {
			l4 = ip[ihl:]
		}
	case 0x86dd:
		if len(fr) < off+40 {
			return k, 0, false
		}
		ip := fr[off:]
		ipLen = int(binary.BigEndian.Uint16(ip[4:])) + 40
		k.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		k.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		k.Proto, l4 = skipIPv6Ext(ip[6], ip[40:])
	default:
		return k, 0, false
	}
	if (k.Proto == 6 || k.Proto == 17) && len(l4) >= 4 {
		k.SPort = binary.BigEndian.Uint16(l4[0:])
		k.DPort = binary.BigEndian.Uint16(l4[2:])
	}
	return k, ipLen, true
}

// skipIPv6Ext steps over IPv6 extension headers (kernel MLD reports carry
// Hop-by-Hop) to the upper-layer protocol, as vxtap does; at most 8.
func skipIPv6Ext(nh byte, b []byte) (byte, []byte) {
	for i := 0; i < 8; i++ {
		var n int
		switch nh {
		case 0, 43, 60, 135: // hop-by-hop, routing, destination options, mobility
			if len(b) < 2 {
				return nh, nil
			}
			n = (int(b[1]) + 1) * 8
		case 44: // fragment
			n = 8
		case 51: // AH
			if len(b) < 2 {
				return nh, nil
			}
			n = (int(b[1]) + 2) * 4
		default:
			return nh, b
		}
		if len(b) < n {
			return nh, nil
		}
		nh, b = b[0], b[n:]
	}
	return nh, b
}

// finish stops reading and checks the socket dropped nothing: a drop
// would make the expected counts wrong.
func (o *observer) finish() error {
	<-o.done
	defer unix.Close(o.fd)
	if o.err != nil {
		return o.err
	}
	st, err := unix.GetsockoptTpacketStats(o.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return fmt.Errorf("packet socket statistics: %w", err)
	}
	if st.Drops != 0 {
		return fmt.Errorf("the observer socket dropped %d packets: expected counts would be wrong", st.Drops)
	}
	return nil
}

// quietFor is how long since the last packet.
func (o *observer) quietFor() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last.IsZero() {
		return time.Hour
	}
	return time.Since(o.last)
}
