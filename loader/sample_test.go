package loader

import (
	"bytes"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// TestSampling: with a 1-in-3 rate and a 64-byte snap length, every third
// accounted packet reaches the ring buffer as a sample carrying its VNI,
// the inner frame's original length and its first 64 bytes.
func TestSampling(t *testing.T) {
	testutil.RequirePrivileged(t)
	cfg := DefaultConfig()
	cfg.SampleRate, cfg.SnapLen = 3, 64
	o, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ev, err := o.OpenEvents()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	frame := mirrored(t, 4242, innerTCP4(4001, 443, 300)...)
	inner := frame[offInner:]
	for i := 0; i < 9; i++ {
		if _, err := o.RunPacket(frame, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var samples []flow.Sample
	if _, err := ev.Read(time.Unix(1, 0), nil, func(s flow.Sample) { samples = append(samples, s) }); err != nil {
		t.Fatal(err)
	}
	if len(samples) != 3 {
		t.Fatalf("%d samples of 9 packets at 1 in 3, want 3", len(samples))
	}
	for _, s := range samples {
		if s.VNI != 4242 || s.OrigLen != uint32(len(inner)) || !bytes.Equal(s.Data, inner[:64]) || s.Rule != 0 {
			t.Errorf("sample vni %d orig %d len %d rule %d; want 4242, %d, the first 64 inner bytes, 0",
				s.VNI, s.OrigLen, len(s.Data), s.Rule, len(inner))
		}
	}
	_, flags, _ := o.Counters()
	for _, f := range flags {
		if f.Name == "sampled" && f.Packets != 3 {
			t.Errorf("sampled counter %d, want 3", f.Packets)
		}
	}
}
