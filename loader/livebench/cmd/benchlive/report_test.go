package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Medians, spread and the ratio to touch come from the runs of the same
// mode; the chart is a PNG; the table lands between the markers only.
func TestReport(t *testing.T) {
	rows := []result{
		{Mode: modeOneCore, Receiver: "touch", Mpps: 8, Accounted: 8e6, Exact: true},
		{Mode: modeOneCore, Receiver: "touch", Mpps: 10, Accounted: 1e7, Exact: true},
		{Mode: modeOneCore, Receiver: "touch", Mpps: 9, Accounted: 9e6, Exact: true},
		{Mode: modeOneCore, Receiver: "vxtap", Mpps: 4.5, Accounted: 1, Exact: true},
		{Mode: modeOneCore, Receiver: "vxtap", Mpps: 3.5, Accounted: 1, Exact: false},
		{Mode: modeOwnCore, Receiver: "touch", Mpps: 2, Accounted: 1, Exact: true},
	}
	s := summarize(rows, machine{CPUs: 2, Model: "test", Kernel: "6.x"}, "make bench-live")
	if len(s.Cells) != 3 {
		t.Fatalf("%d cells, want 3: %+v", len(s.Cells), s.Cells)
	}
	touch, vx := s.Cells[0], s.Cells[1]
	if touch.Receiver != "touch" || touch.Mpps != 9 || touch.MppsMin != 8 || touch.MppsMax != 10 {
		t.Errorf("touch cell %+v", touch)
	}
	if vx.Receiver != "vxtap" || vx.Mpps != 4 || vx.VsTouch != 4.0/9 || vx.ExactRuns != 1 {
		t.Errorf("vxtap cell %+v", vx)
	}
	if s.Cells[2].Mode != modeOwnCore || s.Cells[2].VsTouch != 1 {
		t.Errorf("own-core cell %+v", s.Cells[2])
	}
	md := s.markdown()
	if !strings.Contains(md, "| one-core | vxtap | 2 | 4.00 | 3.50–4.50 | 0.44 |") || !strings.Contains(md, "`make bench-live`") {
		t.Errorf("table:\n%s", md)
	}

	dir := t.TempDir()
	chart := filepath.Join(dir, "c.png")
	if err := writeChart(chart, s); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() != chartW {
		t.Fatalf("chart: %v", err)
	}

	doc := filepath.Join(dir, "P.md")
	os.WriteFile(doc, []byte("# before\n"+markBegin+"\nold table\n"+markEnd+"\nafter\n"), 0o644)
	if err := replaceBetweenMarkers(doc, md); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	if got := string(b); strings.Contains(got, "old table") || !strings.HasPrefix(got, "# before\n") ||
		!strings.HasSuffix(got, markEnd+"\nafter\n") || !strings.Contains(got, md) {
		t.Errorf("document:\n%s", got)
	}
	os.WriteFile(doc, []byte("no markers\n"), 0o644)
	if err := replaceBetweenMarkers(doc, md); err == nil || !strings.Contains(err.Error(), doc) {
		t.Errorf("a document without markers: %v", err)
	}
}

// CSV rows round-trip; a malformed row is refused naming its line and column.
func TestCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.csv")
	out, err := openCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	want := result{Mode: modeOwnCore, Receiver: "tcpdump", Rep: 2, Pace: 0.5, Offered: 10, Received: 9, Accounted: 8, Lost: 1,
		Seconds: 0.5, Mpps: 1.25, RxMpps: 1.5, CPUBusy: 1, CPUProc: 0.25, NsPerPkt: 12.5, Note: "a, b"}
	out.write(want)
	out.Close()
	got, err := readCSV(path)
	if err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), ",9,8,", ",9,x,", 1)), 0o644)
	if _, err := readCSV(path); err == nil || !strings.Contains(err.Error(), ":2: column accounted") {
		t.Errorf("malformed row: %v", err)
	}
}

// The generated configuration has n rules per direction, the last one
// accepting everything, and the benchmark's VNIs under it.
func TestRulesConfig(t *testing.T) {
	c := rulesConfig(100, 2, 4096)
	if n := strings.Count(c, "action: reject"); n != 2*4095 {
		t.Errorf("%d reject rules, want %d", n, 2*4095)
	}
	if !strings.Contains(c, "- {rule: 4096, action: accept}") || !strings.Contains(c, "  101: {name: bench-101, filter: bench, addresses: [198.18.200.1]}") {
		t.Errorf("config lacks the accept-all rule, or VNI 101 naming the generator's source ENI (without it no rule decides)")
	}
}

// An unknown receiver is refused naming it and the known ones.
func TestPickReceivers(t *testing.T) {
	if _, err := pickReceivers("drop,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "softflowd") {
		t.Errorf("unknown receiver: %v", err)
	}
	all, err := pickReceivers("all")
	if err != nil || len(all) != len(receiverSpecs) {
		t.Errorf("all: %d receivers, %v", len(all), err)
	}
	two, err := pickReceivers("tcpdump, drop")
	if err != nil || len(two) != 2 || two[0].name != "tcpdump" || two[1].name != "drop" {
		t.Errorf("tcpdump, drop: %+v, %v", two, err)
	}
}

// The lossless table says when no lossless rate was found.
func TestLosslessTable(t *testing.T) {
	got := losslessTable([]lossless{
		{mode: modeOneCore, receiver: "tcpdump", full: 0.5, mpps: 0.2, ok: true, tries: 3},
		{mode: modeOwnCore, receiver: "softflowd", full: 0.1, tries: 9},
	}, 1000, 10)
	for _, want := range []string{"| one-core | tcpdump | 0.500 | 0.200 | 3 |", "| own-core | softflowd | 0.100 | not found | 9 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}
