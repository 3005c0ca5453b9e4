package livebench

import (
	"bytes"
	"testing"
)

// The generator writes exactly the frames Frame describes: flows, new
// flows, VNIs, ports and checksums, over several calls (its frame index
// carries across them), and whatever an earlier repetition left in a
// recycled page (each run starts here from a frame another flow wrote).
func TestGeneratorFrames(t *testing.T) {
	cfg := DefaultGenConfig()
	cfg.Flows, cfg.NewEvery, cfg.VNIs, cfg.FrameLen = 7, 3, 3, 200
	g := loadGenerator(t, cfg)
	prev, err := Frame(cfg, 5) // a page another frame was written into
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 20; i++ {
		want, err := Frame(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		ret, got, err := g.objs.LiveGen.Test(prev)
		if err != nil {
			t.Fatal(err)
		}
		if ret != 3 { // XDP_TX
			t.Fatalf("frame %d: verdict %d, want XDP_TX", i, ret)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d (flow %d):\n got %x\nwant %x", i, FlowOf(cfg, i), got, want)
		}
		prev = got
	}
	if n, _ := g.Sent(); n != 20 {
		t.Errorf("generator counted %d frames, sent 20", n)
	}
}

// The benchmark frame is a well-formed copy: the touch program parses it.
func TestFramesParseInTouch(t *testing.T) {
	skipUnprivileged(t)
	var o LiveTouchObjects
	if err := LoadLiveTouchObjects(&o, nil); err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cfg := DefaultGenConfig()
	for _, i := range []uint64{0, 1, 99, 100000} {
		f, _ := Frame(cfg, i)
		if ret, _, err := o.LiveTouch.Test(f); err != nil || ret != 1 {
			t.Fatalf("frame %d: verdict %d, %v", i, ret, err)
		}
	}
	var per []LiveTouchTouchCount
	if err := o.TouchCounts.Lookup(uint32(0), &per); err != nil {
		t.Fatal(err)
	}
	var parsed, other uint64
	for _, c := range per {
		parsed, other = parsed+c.Packets, other+c.Other
	}
	if parsed != 4 || other != 0 {
		t.Errorf("touch parsed %d, rejected %d of 4 frames", parsed, other)
	}
}

// A template of a length out of range is refused, naming it.
func TestTemplateLength(t *testing.T) {
	for _, n := range []int{MinFrameLen - 1, MaxFrameLen + 1} {
		if _, err := Template(n, VXLANPort); err == nil {
			t.Errorf("Template(%d) accepted", n)
		}
	}
	for _, n := range []int{MinFrameLen, 156, 1514, MaxFrameLen} {
		f, err := Template(n, VXLANPort)
		if err != nil || len(f) != n {
			t.Errorf("Template(%d): %d bytes, %v", n, len(f), err)
		}
	}
}

// Paced, repetitions that come before the next frame is due send nothing
// (XDP_DROP) and leave the frame count alone: with a second between
// frames, a thousand quick repetitions send one frame.
func TestGeneratorPacing(t *testing.T) {
	cfg := DefaultGenConfig()
	cfg.GapNs = 1e9
	g := loadGenerator(t, cfg)
	if _, _, err := g.objs.LiveGen.Benchmark(g.frame, 1000, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := g.Sent(); n != 1 {
		t.Errorf("paced at 1 frame/s, 1000 repetitions sent %d frames, want 1", n)
	}
}
