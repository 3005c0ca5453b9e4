package trafficgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// tcpExchange opens one connection, sends req bytes, reads resp bytes and
// closes: SYN, data both ways, FIN both ways.
func tcpExchange(dst netip.Addr, req, resp int) error {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(dst, tcpPort).String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(req))
	binary.BigEndian.PutUint32(hdr[4:], uint32(resp))
	if _, err := c.Write(append(hdr[:], make([]byte, req)...)); err != nil {
		return fmt.Errorf("tcp to %s: %w", dst, err)
	}
	n, err := io.CopyN(io.Discard, c, int64(resp))
	if err != nil || n != int64(resp) {
		return fmt.Errorf("tcp to %s: got %d of %d bytes: %v", dst, n, resp, err)
	}
	return nil
}

// udpExchange sends count datagrams of size bytes from one socket and
// waits for each echo.
func udpExchange(dst netip.Addr, count, size int) error {
	c, err := net.Dial("udp", netip.AddrPortFrom(dst, udpPort).String())
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 65536)
	for i := 0; i < count; i++ {
		if _, err := c.Write(make([]byte, size)); err != nil {
			return fmt.Errorf("udp to %s: %w", dst, err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(buf); err != nil {
			return fmt.Errorf("udp echo from %s: %w", dst, err)
		}
	}
	return nil
}

// pingExchange sends count ICMP or ICMPv6 echo requests from src and waits
// for each reply (the peer's kernel answers).
func pingExchange(src, dst netip.Addr, count int, id int) error {
	network, proto := "ip4:icmp", 1
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if dst.Is6() {
		network, proto, typ = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest
	}
	c, err := icmp.ListenPacket(network, src.String())
	if err != nil {
		return fmt.Errorf("icmp socket: %w", err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	for seq := 1; seq <= count; seq++ {
		m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: make([]byte, 56)}}
		b, err := m.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("echo to %s: %w", dst, err)
		}
		for {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("echo reply from %s: %w", dst, err)
			}
			r, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil {
				continue
			}
			if e, ok := r.Body.(*icmp.Echo); ok && e.Seq == seq && (r.Type == ipv4.ICMPTypeEchoReply || r.Type == ipv6.ICMPTypeEchoReply) {
				break
			}
		}
	}
	return nil
}
