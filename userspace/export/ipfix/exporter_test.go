package ipfix

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// templatesIn counts the messages carrying the template set.
func templatesIn(t *testing.T, msgs [][]byte) int {
	t.Helper()
	n := 0
	for _, m := range msgs {
		if len(m) > headerLen+1 && m[headerLen] == 0 && m[headerLen+1] == setTemplate {
			n++
		}
	}
	return n
}

// TestTemplateRefreshUDP: the templates lead the first message, are not
// repeated within the refresh interval, go out again with the next batch
// once it passed, and the timer sends them alone when no batch comes.
func TestTemplateRefreshUDP(t *testing.T) {
	conn := &datagramConn{}
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	e := udpExporter(t, conn, clock, 1500)
	ctx := context.Background()
	rs := testRecords(4)

	e.WriteBatch(ctx, batch(1, rs))
	clock.Add(30 * time.Minute)
	e.WriteBatch(ctx, batch(2, rs))
	if got := templatesIn(t, conn.messages()); got != 1 {
		t.Fatalf("templates sent %d times within the interval, want 1", got)
	}
	clock.Add(31 * time.Minute)
	e.WriteBatch(ctx, batch(3, rs))
	if got := templatesIn(t, conn.messages()); got != 2 {
		t.Fatalf("templates sent %d times after the interval, want 2", got)
	}
	if err := e.refresh(); err != nil { // the timer, not yet due
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	if err := e.refresh(); err != nil { // the timer, due
		t.Fatal(err)
	}
	msgs := conn.messages()
	if got := templatesIn(t, msgs); got != 3 {
		t.Fatalf("templates sent %d times after the timer, want 3", got)
	}
	d := decodeAll(t, msgs)
	if len(d.records) != 12 || len(d.sampling) != 3 {
		t.Errorf("%d records, %d sampling records: want 12, 3", len(d.records), len(d.sampling))
	}
	// Sequence numbers continue through the UDP session: 3 batches of 4
	// flows and 3 sampling records before the last message.
	if last := d.headers[len(d.headers)-1].SequenceNumber; last != 12+2 {
		t.Errorf("last sequence %d, want 14", last)
	}
}

// TestTemplateRefreshTimer: the refresh goroutine itself resends the
// templates on the real clock with no batch at all.
func TestTemplateRefreshTimer(t *testing.T) {
	conn := &datagramConn{remote: &net.UDPAddr{IP: net.IPv4(198, 18, 0, 1)}}
	e, err := New(Config{Network: "udp", Addr: "198.18.0.1:4739", TemplateRefresh: 20 * time.Millisecond,
		Dial: func(context.Context, string, string) (net.Conn, error) { return conn, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.WriteBatch(context.Background(), batch(1, testRecords(1)))
	deadline := time.Now().Add(5 * time.Second)
	for templatesIn(t, conn.messages()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("templates sent %d times in 5 s with a 20 ms refresh", templatesIn(t, conn.messages()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestResumeAfterSendError: a send refused in the middle of a batch
// fails WriteBatch; the same batch handed again sends only what was not
// sent, so the collector gets every record exactly once, in order, with
// sequence numbers that count exactly what it got.
func TestResumeAfterSendError(t *testing.T) {
	conn := &datagramConn{fail: func(n int) error {
		if n == 3 || n == 4 {
			return errRefused
		}
		return nil
	}}
	e := udpExporter(t, conn, &fakeClock{t: time.Unix(1_800_000_000, 0)}, 1500)
	rs := testRecords(200)
	ctx := context.Background()
	for try := 1; ; try++ {
		err := e.WriteBatch(ctx, batch(7, rs))
		if err == nil {
			break
		}
		if !errors.Is(err, errRefused) || try > 3 {
			t.Fatalf("try %d: %v", try, err)
		}
	}
	msgs := conn.messages()
	d := decodeAll(t, msgs)
	if len(d.records) != len(rs) {
		t.Fatalf("collector got %d records, want %d once each", len(d.records), len(rs))
	}
	for i, r := range d.records {
		checkRecord(t, i, values(t, r), d.recordTpl[i], rs[i])
	}
	var before uint32
	for i, h := range d.headers {
		if h.SequenceNumber != before {
			t.Errorf("message %d: sequence %d, want %d", i, h.SequenceNumber, before)
		}
		before += countDataRecords(t, msgs[i])
	}
	if st := e.Stats(); st.SendErrors != 2 || st.Records != uint64(len(rs)) {
		t.Errorf("stats %+v: want 2 send errors, %d records", st, len(rs))
	}
	// Another batch starts from its first record.
	e.WriteBatch(ctx, batch(8, rs[:5]))
	if got := len(decodeAll(t, conn.messages()).records); got != len(rs)+5 {
		t.Errorf("%d records after the next batch, want %d", got, len(rs)+5)
	}
}

// tcpPeer is the collector end of a TCP connection made with net.Pipe.
type tcpPeer struct {
	mu     sync.Mutex
	stream []byte
	conn   net.Conn
	done   chan struct{}
}

// pipeDialer returns a Dial whose every call makes a new pipe; the test
// reads (or not) the far ends, listed in order.
func pipeDialer(read bool) (func(context.Context, string, string) (net.Conn, error), *[]*tcpPeer, *sync.Mutex) {
	var peers []*tcpPeer
	var mu sync.Mutex
	dial := func(context.Context, string, string) (net.Conn, error) {
		a, b := net.Pipe()
		p := &tcpPeer{conn: b, done: make(chan struct{})}
		mu.Lock()
		peers = append(peers, p)
		mu.Unlock()
		if read {
			go func() {
				defer close(p.done)
				buf := make([]byte, 4096)
				for {
					n, err := b.Read(buf)
					p.mu.Lock()
					p.stream = append(p.stream, buf[:n]...)
					p.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		return a, nil
	}
	return dial, &peers, &mu
}

func (p *tcpPeer) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.stream...)
}

// TestTCPReconnectSendsTemplates: over TCP the templates go once per
// connection, however much time passes; when the collector closes the
// connection, the next batch reconnects, starts the sequence again at 0
// and sends the templates first; each stream decodes on its own.
func TestTCPReconnectSendsTemplates(t *testing.T) {
	dial, peers, mu := pipeDialer(true)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	e, err := New(Config{Network: "tcp", Addr: "198.18.0.1:4739", Domain: 7, TemplateRefresh: time.Second, Dial: dial, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	rs := testRecords(300)
	if err := e.WriteBatch(ctx, batch(1, rs[:150])); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	if err := e.WriteBatch(ctx, batch(2, rs[150:])); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	first := (*peers)[0]
	mu.Unlock()
	first.conn.Close()
	<-first.done
	waitFor(t, func() bool { return e.dead.Load() })
	if err := e.WriteBatch(ctx, batch(3, rs[:10])); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(*peers) != 2 {
		t.Fatalf("%d connections, want 2", len(*peers))
	}
	second := (*peers)[1]
	mu.Unlock()
	e.Close()
	<-second.done

	for i, p := range []*tcpPeer{first, second} {
		msgs := splitStream(t, p.bytes())
		if got := templatesIn(t, msgs); got != 1 {
			t.Errorf("connection %d: templates sent %d times, want once", i, got)
		}
		d := decodeAll(t, msgs) // decodes only if the templates lead
		want := []int{300, 10}[i]
		if len(d.records) != want {
			t.Errorf("connection %d: %d records, want %d", i, len(d.records), want)
		}
		if d.headers[0].SequenceNumber != 0 {
			t.Errorf("connection %d starts at sequence %d", i, d.headers[0].SequenceNumber)
		}
		for _, h := range d.headers {
			if len(msgs[0]) > tcpMessageMax || h.ObservationDomainId != 7 {
				t.Errorf("connection %d: header %+v", i, h)
			}
		}
	}
	if st := e.Stats(); st.Connects != 2 || st.Templates != 2 || st.Records != 310 {
		t.Errorf("stats %+v", st)
	}
}

// TestTCPStalledCollectorHonoursContext: a collector that reads nothing
// cannot hold WriteBatch past its context; the connection is dropped
// (part of a message may have gone) and the next batch reconnects.
func TestTCPStalledCollectorHonoursContext(t *testing.T) {
	dial, peers, _ := pipeDialer(false)
	e, err := New(Config{Network: "tcp", Addr: "198.18.0.1:4739", Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.WriteBatch(ctx, batch(1, testRecords(10)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WriteBatch: %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("WriteBatch took %v with a 200 ms context", took)
	}
	// Cancellation, not only a deadline, ends a blocked write.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel2)
	if err := e.WriteBatch(ctx2, batch(2, testRecords(10))); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteBatch: %v, want canceled", err)
	}
	if len(*peers) != 2 || e.Stats().SendErrors != 2 {
		t.Errorf("%d connections, stats %+v: want a reconnect after the dropped connection", len(*peers), e.Stats())
	}
	for _, p := range *peers {
		p.conn.Close()
	}
}

// TestConnectBackoff: a collector that refuses connections is tried at
// most once per backoff interval, which doubles up to the maximum;
// between attempts WriteBatch fails at once; success resets it.
func TestConnectBackoff(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var dials int
	up := false
	dial := func(context.Context, string, string) (net.Conn, error) {
		dials++
		if !up {
			return nil, errRefused
		}
		a, b := net.Pipe()
		go io.Copy(io.Discard, b)
		return a, nil
	}
	e, err := New(Config{Network: "tcp", Addr: "198.18.0.1:4739", Dial: dial, Now: clock.Now,
		BackoffMin: time.Second, BackoffMax: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	try := func() error { return e.WriteBatch(ctx, batch(1, testRecords(1))) }
	steps := []struct {
		advance time.Duration
		dials   int
	}{
		{0, 1}, {0, 1}, {999 * time.Millisecond, 1}, {time.Millisecond, 2}, // waited 1 s
		{1999 * time.Millisecond, 2}, {time.Millisecond, 3}, // then 2 s
		{4 * time.Second, 4}, {4 * time.Second, 5}, {3 * time.Second, 5}, // then 4 s, the maximum
	}
	for i, s := range steps {
		clock.Add(s.advance)
		err := try()
		if err == nil || dials != s.dials {
			t.Fatalf("step %d: %v after %d dials, want an error after %d", i, err, dials, s.dials)
		}
		if dials == s.dials && i > 0 && steps[i-1].dials == s.dials && !strings.Contains(err.Error(), "next attempt in") {
			t.Errorf("step %d: %v: want a 'next attempt in' error", i, err)
		}
	}
	up = true
	clock.Add(4 * time.Second)
	if err := try(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.ConnectErr != 5 || st.Connects != 1 || e.backoff != time.Second {
		t.Errorf("stats %+v backoff %v", st, e.backoff)
	}
}

// TestConfigErrors: bad targets and settings are refused with the value
// named.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, network, addr, err string }{
		{"198.18.0.1:4739", "udp", "198.18.0.1:4739", ""},
		{"udp://collector.example:2055", "udp", "collector.example:2055", ""},
		{"tcp://[2001:db8::1]:4739", "tcp", "[2001:db8::1]:4739", ""},
		{"sctp://198.18.0.1:4739", "", "", `scheme "sctp"`},
		{"198.18.0.1", "", "", "want HOST:PORT"},
		{"198.18.0.1:0", "", "", `port "0"`},
		{"198.18.0.1:99999", "", "", `port "99999"`},
		{":4739", "", "", "no host"},
	} {
		n, a, err := ParseTarget(tc.in)
		if tc.err == "" && (err != nil || n != tc.network || a != tc.addr) {
			t.Errorf("%q: %q %q %v", tc.in, n, a, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in)) {
			t.Errorf("%q: %v, want an error naming it and %q", tc.in, err, tc.err)
		}
	}
	for _, c := range []Config{
		{Network: "udp", Addr: "a:1", MTU: 500},
		{Network: "udp", Addr: "a:1", MTU: 70000},
		{Network: "udp", Addr: "a:1", TemplateRefresh: -time.Second},
		{Network: "icmp", Addr: "a:1"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
