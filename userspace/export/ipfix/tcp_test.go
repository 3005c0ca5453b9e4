package ipfix

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/pipeline"
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
// collector must get them) and counts its flow records. The stream may
// still be arriving: a message not yet read whole is left for the next
// call (only its header's length must be sane).
func recordsIn(t *testing.T, stream []byte) int {
	t.Helper()
	stream = wholeMessages(t, stream)
	if len(stream) == 0 {
		return 0
	}
	return len(decodeAll(t, splitStream(t, stream)).records)
}

// wholeMessages is the part of a stream read so far that ends at a
// message boundary.
func wholeMessages(t *testing.T, b []byte) []byte {
	t.Helper()
	n := 0
	for len(b)-n >= headerLen {
		m := int(binary.BigEndian.Uint16(b[n+2:]))
		if m < headerLen {
			t.Fatalf("message length %d at offset %d", m, n)
		}
		if m > len(b)-n {
			break // the rest of it is still on its way
		}
		n += m
	}
	return b[:n]
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

// TestSilentCollectorBlocksNothing: a TCP collector whose SYNs vanish
// (a static neighbour behind a veth whose far end has no address:
// nothing answers, nothing refuses) behind the pipeline's queue: offering batches never waits,
// the queue drops what it cannot hold and counts it, each connect gives
// up at the write timeout, and closing the queue cancels the attempt in
// progress at once.
func TestSilentCollectorBlocksNothing(t *testing.T) {
	testutil.RequirePrivileged(t)
	ns := testutil.Netns(t, "vxipsil")
	testutil.Sh(t, "ip -n %s link add sil0 type veth peer name sil1 && ip -n %s addr add 198.18.99.1/24 dev sil0", ns, ns)
	testutil.Sh(t, "ip -n %s link set sil0 up && ip -n %s link set sil1 up", ns, ns)
	testutil.Sh(t, "ip -n %s neigh add 198.18.99.2 lladdr 02:00:00:00:00:02 dev sil0", ns)
	e, err := New(Config{Network: "tcp", Addr: "198.18.99.2:4739", Dial: testutil.DialInNetns(ns),
		WriteTimeout: 300 * time.Millisecond, BackoffMin: 50 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	q := pipeline.NewQueue(e.Name(), "records", 2, e.Durable(), pipeline.DefaultRetry,
		func(b pipeline.Batch) int { return len(b.Records) }, e.WriteBatch)
	q.Start()
	rs := collectorRecords(10)
	start := time.Now()
	for i := 0; i < 50; i++ {
		q.Offer(batch(uint64(i), rs))
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("50 offers took %v: the producer waited for the collector", took)
	}
	time.Sleep(700 * time.Millisecond) // at least one connect times out
	closeStart := time.Now()
	q.Close(time.Now())
	if took := time.Since(closeStart); took > 500*time.Millisecond {
		t.Errorf("closing the queue took %v", took)
	}
	e.Close()
	st, es := q.Stats(), e.Stats()
	if st.Written != 0 || st.Dropped != 50*uint64(len(rs)) || st.Errors == 0 || es.ConnectErr == 0 || es.Connects != 0 {
		t.Errorf("queue %+v, exporter %+v: want every record dropped and counted, connect errors, no connection", st, es)
	}
	if !strings.Contains(st.LastError, "timeout") && !strings.Contains(st.LastError, "deadline exceeded") &&
		!strings.Contains(st.LastError, "next attempt") && !strings.Contains(st.LastError, "canceled") {
		t.Errorf("last error %q: want a connect that timed out (the collector is silent)", st.LastError)
	}
	t.Logf("queue: %d dropped, %d errors, last: %s", st.Dropped, st.Errors, st.LastError)
}
