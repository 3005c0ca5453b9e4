package offheap

import (
	"testing"
	"unsafe"
)

type rec struct {
	a [42]byte
	n uint64
}

func TestMakeAppendFree(t *testing.T) {
	a := New()
	s := Make[rec](a, 3)
	if len(s) != 0 || cap(s) != 3 {
		t.Fatalf("len %d cap %d", len(s), cap(s))
	}
	var first *rec
	for i := range 10_000 {
		s = Append(a, s, rec{n: uint64(i)})
		if i == 0 {
			first = &s[0]
		}
	}
	for i := range s {
		if s[i].n != uint64(i) {
			t.Fatalf("s[%d] = %d", i, s[i].n)
		}
	}
	if first.n != 0 { // the outgrown array is still mapped
		t.Fatalf("outgrown array: %d", first.n)
	}
	if a.Mapped() < len(s)*int(unsafe.Sizeof(rec{})) {
		t.Fatalf("%d bytes mapped", a.Mapped())
	}
	a.Release()
	if n, want := a.Mapped(), cap(s)*int(unsafe.Sizeof(rec{})); n != want {
		t.Fatalf("after Release: %d bytes mapped, want %d", n, want)
	}
	Drop(a, s)
	if n := a.Mapped(); n != 0 {
		t.Fatalf("after Drop: %d bytes mapped", n)
	}
	a.Free()
}

func TestPointersRefused(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a type with a pointer was accepted")
		}
	}()
	Make[struct{ p *int }](New(), 1)
}
