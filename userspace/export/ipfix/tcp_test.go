package ipfix

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// tcpCollector accepts IPFIX over TCP inside a namespace and keeps each
// connection's byte stream.
type tcpCollector struct {
	l       net.Listener
	mu      sync.Mutex
	streams [][]byte
	conns   []net.Conn
	wg      sync.WaitGroup
}

func startTCPCollector(t *testing.T, ns, addr string) *tcpCollector {
	t.Helper()
	l, err := testutil.ListenInNetns(ns, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &tcpCollector{l: l}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			i := len(c.streams)
			c.streams = append(c.streams, nil)
			c.conns = append(c.conns, conn)
			c.mu.Unlock()
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				buf := make([]byte, 8192)
				for {
					n, err := conn.Read(buf)
					c.mu.Lock()
					c.streams[i] = append(c.streams[i], buf[:n]...)
					c.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(c.stop)
	return c
}

// stop closes the listener and every connection.
func (c *tcpCollector) stop() {
	c.l.Close()
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *tcpCollector) stream(i int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.streams) {
		return nil
	}
	return append([]byte(nil), c.streams[i]...)
}

// recordsIn decodes one connection's stream (templates first, as a
// collector must get them) and counts its flow records.
func recordsIn(t *testing.T, stream []byte) int {
	t.Helper()
	if len(stream) == 0 {
		return 0
	}
	return len(decodeAll(t, splitStream(t, stream)).records)
}

// TestTCPCollectorRestarts: over real TCP, in a namespace: records reach
// the collector; when it closes the connection the exporter notices,
// reconnects on the next batch and sends the templates first; while it
// is down WriteBatch fails at once (connection refused, then the backoff)
// instead of waiting; when it is back the export resumes.
func TestTCPCollectorRestarts(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.Netns(t, "vxiptcp")
	const addr = "127.0.0.1:4739"
	col := startTCPCollector(t, ns, addr)
	e, err := New(Config{Network: "tcp", Addr: addr, Domain: 5, Dial: testutil.DialInNetns(ns),
		BackoffMin: 200 * time.Millisecond, BackoffMax: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	rs := collectorRecords(300)

	if err := e.WriteBatch(ctx, batch(1, rs)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(col.stream(0)) > 0 && recordsIn(t, col.stream(0)) == len(rs) })

	// The collector drops the connection: the exporter sees it go.
	col.mu.Lock()
	col.conns[0].Close()
	col.mu.Unlock()
	waitFor(t, func() bool { return e.dead.Load() })
	if err := e.WriteBatch(ctx, batch(2, rs[:50])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return recordsIn(t, col.stream(1)) == 50 })
	if h := decodeAll(t, splitStream(t, col.stream(1))).headers[0]; h.SequenceNumber != 0 || h.ObservationDomainId != 5 {
		t.Errorf("new connection starts with header %+v", h)
	}

	// The collector goes away.
	col.stop()
	waitFor(t, func() bool { return e.dead.Load() })
	start := time.Now()
	err1 := e.WriteBatch(ctx, batch(3, rs[:10]))
	err2 := e.WriteBatch(ctx, batch(3, rs[:10]))
	if err1 == nil || !strings.Contains(err1.Error(), "refused") || err2 == nil || !strings.Contains(err2.Error(), "next attempt in") {
		t.Errorf("collector down: %v, then %v: want connection refused, then the backoff", err1, err2)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("two batches to a dead collector took %v", took)
	}

	// Back again: after the backoff the export resumes, templates first.
	col2 := startTCPCollector(t, ns, addr)
	time.Sleep(250 * time.Millisecond)
	if err := e.WriteBatch(ctx, batch(3, rs[:10])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return recordsIn(t, col2.stream(0)) == 10 })
	st := e.Stats()
	if st.Connects != 3 || st.Templates != 3 || st.Records != 360 || st.ConnectErr != 1 {
		t.Errorf("stats %+v: want 3 connections each with templates, 360 records, 1 refused connect", st)
	}
}
