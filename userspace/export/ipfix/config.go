package ipfix

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config's zero fields.
const (
	DefaultMTU             = 1500             // path MTU to a UDP collector
	DefaultTemplateRefresh = time.Minute      // UDP template resend interval
	DefaultWriteTimeout    = 10 * time.Second // a stalled TCP collector is dropped after this
	DefaultBackoffMin      = time.Second      // first wait after a failed connect
	DefaultBackoffMax      = 30 * time.Second // longest wait between connect attempts
	MinMTU                 = 576              // the IPv4 minimum reassembly size; every record fits
	tcpMessageMax          = 65535            // the message length field's limit
)

// Config is an exporter's settings.
type Config struct {
	Network         string        // "udp" or "tcp"
	Addr            string        // collector HOST:PORT
	Domain          uint32        // observation domain ID
	MTU             int           // UDP: path MTU; messages stay under it after IP and UDP headers
	TemplateRefresh time.Duration // UDP: templates are resent this often (TCP sends them once per connection)
	WriteTimeout    time.Duration // longest one message may take to send
	BackoffMin      time.Duration
	BackoffMax      time.Duration
	// Dial opens the transport; net.Dialer's by default (tests dial
	// inside a network namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	Now  func() time.Time // the clock; time.Now by default
}

// ParseTarget reads a collector address: HOST:PORT or udp://HOST:PORT
// for UDP, tcp://HOST:PORT for TCP.
func ParseTarget(s string) (network, addr string, err error) {
	network, addr = "udp", s
	if i := strings.Index(s, "://"); i >= 0 {
		network, addr = s[:i], s[i+3:]
		if network != "udp" && network != "tcp" {
			return "", "", fmt.Errorf("collector %q: scheme %q: want udp:// or tcp://", s, network)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("collector %q: want HOST:PORT, udp://HOST:PORT or tcp://HOST:PORT: %v", s, err)
	}
	if host == "" {
		return "", "", fmt.Errorf("collector %q: no host", s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return "", "", fmt.Errorf("collector %q: port %q: want 1-65535", s, port)
	}
	return network, addr, nil
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Network != "udp" && c.Network != "tcp" {
		return c, fmt.Errorf("ipfix: network %q: want udp or tcp", c.Network)
	}
	if c.Addr == "" {
		return c, fmt.Errorf("ipfix: no collector address")
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < MinMTU || c.MTU > 65535 {
		return c, fmt.Errorf("ipfix: MTU %d: want %d-65535", c.MTU, MinMTU)
	}
	if c.TemplateRefresh == 0 {
		c.TemplateRefresh = DefaultTemplateRefresh
	}
	if c.TemplateRefresh < 0 {
		return c, fmt.Errorf("ipfix: template refresh %v: want a positive interval", c.TemplateRefresh)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffMin)
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// messageMax is the largest message for a transport whose peer is at
// remote: under the path MTU for UDP, the format's limit for TCP.
func (c Config) messageMax(remote net.Addr) int {
	if c.Network == "tcp" {
		return tcpMessageMax
	}
	ipHeader := 20
	if u, ok := remote.(*net.UDPAddr); ok && u.IP.To4() == nil {
		ipHeader = 40
	}
	return c.MTU - ipHeader - 8
}
