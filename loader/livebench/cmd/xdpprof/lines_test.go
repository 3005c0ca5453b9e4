package main

import (
	"strings"
	"testing"
)

// TestAggregate: samples in a program's code count at their source line;
// a sample in a kernel function the program called counts at the line of
// the call (the return address less one), under the callee's name; a
// sample elsewhere does not count; a program loaded later at a freed
// address replaces the earlier one there.
func TestAggregate(t *testing.T) {
	var m jitMap
	old, err := jitFuncs([]uint64{0x1000}, []uint64{0x100}, []string{"old"}, []uint64{0x1000}, []string{"old.c:1"}, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	m.add(old)
	// main at 0x1000 (0x100 bytes), sub at 0x2000 (0x80): lines at their
	// starts and inside.
	fs, err := jitFuncs([]uint64{0x1000, 0x2000}, []uint64{0x100, 0x80}, []string{"main", "sub"},
		[]uint64{0x1000, 0x1040, 0x10a0, 0x2000, 0x2010},
		[]string{"a.c:1", "a.c:2", "a.c:3", "b.h:10", "b.h:11"},
		[]string{"parse", "hash", "call helper", "sub entry", "sub body"})
	if err != nil {
		t.Fatal(err)
	}
	m.add(fs)
	if m.find(0x10ff).name != "main" || m.find(0x2000).name != "sub" || m.find(0x1100) != nil || m.find(0x0fff) != nil {
		t.Fatalf("map: %+v", m.funcs)
	}
	perf := strings.Join([]string{
		"", "\t0000000000001041 bpf_prog_aaaa_main+0x41", "\tffffffff81000000 bpf_test_run", // mid line 2
		"", "\t0000000000001045 bpf_prog_aaaa_main+0x45", // line 2
		"", "\t0000000000002011 bpf_prog_bbbb_sub+0x11", "\t00000000000010a5 bpf_prog_aaaa_main+0xa5", // sub line 11
		"", "\tffffffff8153d838 __bpf_ringbuf_reserve+0x48", "\t00000000000010a6 bpf_prog_aaaa_main+0xa6", // called from line 3
		"", "\tffffffff81000000 somewhere_else", "\tffffffff81000100 bpf_test_run", // not in the program
		"", "\t0000000000001000 bpf_prog_aaaa_main", // line 1
		"",
	}, "\n")
	p, err := aggregate(strings.NewReader(perf), &m)
	if err != nil {
		t.Fatal(err)
	}
	if p.total != 5 || p.byFunc["main"] != 4 || p.byFunc["sub"] != 1 || p.unknown != 0 {
		t.Fatalf("total %d, by function %v, unknown %d; want 5, main 4 and sub 1, 0", p.total, p.byFunc, p.unknown)
	}
	got := map[string]int{}
	for _, r := range p.rows {
		got[r.loc+" "+r.via] = r.n
	}
	want := map[string]int{"a.c:2 ": 2, "b.h:11 ": 1, "a.c:3 __bpf_ringbuf_reserve": 1, "a.c:1 ": 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q: %d samples, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	var out strings.Builder
	p.write(&out, 10)
	if !strings.Contains(out.String(), "[in __bpf_ringbuf_reserve] call helper") {
		t.Errorf("output lacks the helper's row:\n%s", out.String())
	}
}
