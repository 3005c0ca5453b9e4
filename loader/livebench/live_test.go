package livebench

import (
	"fmt"
	"os"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// skipUnprivileged skips (or fails, under VXTAP_REQUIRE_PRIVILEGED=1)
// a test that needs root.
func skipUnprivileged(t testing.TB) { testutil.RequirePrivileged(t) }

// loadGenerator loads a generator unloaded at the end of the test.
func loadGenerator(t testing.TB, cfg GenConfig) *Generator {
	t.Helper()
	testutil.RequirePrivileged(t)
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// testLab builds a lab private to this test binary, removed at the end.
func testLab(t *testing.T) *Lab {
	t.Helper()
	testutil.RequirePrivileged(t)
	l, err := NewLab(fmt.Sprintf("vxt%d", os.Getpid()%100000), 1500)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// send offers n frames from the generator side and returns what the
// generator reports as transmitted and what arrived at the receiver.
func send(t *testing.T, l *Lab, cfg GenConfig, n uint64) (sent, arrived uint64) {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	before, err := l.RxXDPPackets()
	if err != nil {
		t.Fatal(err)
	}
	if err := InNetns(NSPath(l.GenNS), -1, func() error {
		sent, _, err = g.Run(l.GenIndex, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	after, err := l.RxXDPPackets()
	if err != nil {
		t.Fatal(err)
	}
	return sent, after - before
}

// Every frame the generator transmits reaches the receiver, and the touch
// program parses every one of them to the inner ports: the counts the
// live benchmark relies on are exact at a low rate.
func TestLiveBaselinesCountExactly(t *testing.T) {
	l := testLab(t)
	cfg := DefaultGenConfig()
	cfg.Chunk = 1000 // several calls: the generator's count carries across them
	for _, name := range Baselines {
		t.Run(name, func(t *testing.T) {
			var r *Receiver
			if err := InNetns(NSPath(l.RxNS), -1, func() (err error) {
				r, err = AttachBaseline(name, l.RxIndex, 0)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			const n = 5000
			sent, arrived := send(t, l, cfg, n)
			if sent < n || arrived != sent {
				t.Fatalf("generator transmitted %d (asked %d), receiver got %d", sent, n, arrived)
			}
			parsed, other, ok, err := r.Accounted()
			if err != nil {
				t.Fatal(err)
			}
			if ok && (parsed != arrived || other != 0) {
				t.Errorf("touch parsed %d and rejected %d of %d frames", parsed, other, arrived)
			}
		})
	}
}

// With no XDP program the receiving veth still runs its NAPI loop (GRO is
// on), so frames reach the stack and are counted there: the tcpdump and
// softflowd receivers depend on it.
func TestLiveNoXDPReceiverCounts(t *testing.T) {
	l := testLab(t)
	const n = 3000
	sent, arrived := send(t, l, DefaultGenConfig(), n)
	if sent < n || arrived != sent {
		t.Fatalf("generator transmitted %d (asked %d), receiver NAPI saw %d", sent, n, arrived)
	}
}
