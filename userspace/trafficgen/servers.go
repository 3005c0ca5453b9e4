package trafficgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Ports the peer servers listen on.
const (
	tcpPort = 8080
	udpPort = 5353
)

// servers are the peer side: a TCP server answering each request with as
// many bytes as it asks for, and a UDP echo.
type servers struct {
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
	errs chan error
}

// startServers opens the listeners inside the peer namespace (dual stack).
func startServers(ns string) (*servers, error) {
	s := &servers{errs: make(chan error, 16)}
	err := inNetns(ns, func() error {
		var err error
		if s.tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", tcpPort)); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", udpPort))
		return err
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("servers in %s: %w", ns, err)
	}
	s.wg.Add(2)
	go s.serveTCP()
	go s.serveUDP()
	return s, nil
}

func (s *servers) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := answer(c); err != nil {
				s.report(err)
			}
		}()
	}
}

// answer reads "request length, response length" and the request, sends
// the response, and closes once the client has.
func answer(c net.Conn) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [8]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("tcp server: %w", err)
	}
	req, resp := binary.BigEndian.Uint32(hdr[:4]), binary.BigEndian.Uint32(hdr[4:])
	if _, err := io.CopyN(io.Discard, c, int64(req)); err != nil {
		return fmt.Errorf("tcp server: request: %w", err)
	}
	if _, err := c.Write(make([]byte, resp)); err != nil {
		return fmt.Errorf("tcp server: response: %w", err)
	}
	// Wait for the client's FIN so both closes happen in a fixed order.
	io.Copy(io.Discard, c)
	return nil
}

func (s *servers) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		if _, err := s.udp.WriteTo(buf[:n], addr); err != nil {
			s.report(fmt.Errorf("udp echo: %w", err))
		}
	}
}

func (s *servers) report(err error) {
	select {
	case s.errs <- err:
	default:
	}
}

// close stops the servers and returns the first error they met.
func (s *servers) close() error {
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	s.wg.Wait()
	select {
	case err := <-s.errs:
		return err
	default:
		return nil
	}
}
