// Package offheap keeps the daemon's large per-flow arrays outside the Go
// heap, in anonymous mappings. They hold no pointers, so the garbage
// collector has nothing to find in them; inside the heap they would
// still count towards its goal (GOGC): at a million flows, 240 MB of
// arrays let a quarter as much garbage pile up before a collection,
// while outside it the goal follows only the few MB the daemon
// allocates and frees. Pages are touched only as the arrays fill, so
// room reserved for a full table costs address space, not memory.
//
// An Arena owns the mappings of one structure. Arrays outgrown by Append
// stay mapped (pointers into them stay valid, as with Go's append) until
// the owner calls Release at a point where it holds none; Free unmaps
// everything, and owners arrange for it with runtime.AddCleanup.
package offheap

import (
	"fmt"
	"reflect"
	"sync"
	"syscall"
	"unsafe"
)

// Arena owns mappings. Its methods are safe for concurrent use.
type Arena struct {
	mu      sync.Mutex
	live    map[unsafe.Pointer][]byte // mappings in use, by base address
	retired [][]byte                  // outgrown, unmapped by Release
}

// New returns an empty arena.
func New() *Arena { return &Arena{live: map[unsafe.Pointer][]byte{}} }

// Make returns an empty slice of capacity n in a new mapping (zeroed by
// the kernel, touched only when used), or on the heap when the kernel
// refuses the mapping. T must hold no pointers.
func Make[T any](a *Arena, n int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	checkPlain(reflect.TypeOf(zero))
	if n <= 0 || size == 0 {
		return nil
	}
	mem, err := syscall.Mmap(-1, 0, n*size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]T, 0, n)
	}
	base := unsafe.Pointer(unsafe.SliceData(mem))
	a.mu.Lock()
	a.live[base] = mem
	a.mu.Unlock()
	return unsafe.Slice((*T)(base), n)[:0]
}

// Append is append(s, x) for a slice from Make: when s is full it moves
// to a mapping twice as large, and the old one is retired.
func Append[T any](a *Arena, s []T, x T) []T {
	if len(s) == cap(s) {
		var zero T
		n := max(2*cap(s), 4096/max(int(unsafe.Sizeof(zero)), 1), 16)
		grown := Make[T](a, n)[:len(s)]
		copy(grown, s)
		a.retire(unsafe.Pointer(unsafe.SliceData(s)))
		s = grown
	}
	return append(s, x)
}

// retire moves the mapping at base, if there is one, to the retired.
func (a *Arena) retire(base unsafe.Pointer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mem, ok := a.live[base]; ok {
		delete(a.live, base)
		a.retired = append(a.retired, mem)
	}
}

// Drop unmaps s's mapping at once: nothing may point into s any more.
func Drop[T any](a *Arena, s []T) {
	if cap(s) == 0 {
		return
	}
	base := unsafe.Pointer(unsafe.SliceData(s))
	a.mu.Lock()
	mem, ok := a.live[base]
	delete(a.live, base)
	a.mu.Unlock()
	if ok {
		syscall.Munmap(mem)
	}
}

// Release unmaps the outgrown arrays.
func (a *Arena) Release() {
	a.mu.Lock()
	old := a.retired
	a.retired = nil
	a.mu.Unlock()
	for _, mem := range old {
		syscall.Munmap(mem)
	}
}

// Free unmaps every mapping of the arena.
func (a *Arena) Free() {
	a.Release()
	a.mu.Lock()
	live := a.live
	a.live = map[unsafe.Pointer][]byte{}
	a.mu.Unlock()
	for _, mem := range live {
		syscall.Munmap(mem)
	}
}

// Mapped is how many bytes the arena has mapped (used or not).
func (a *Arena) Mapped() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, mem := range a.live {
		n += len(mem)
	}
	for _, mem := range a.retired {
		n += len(mem)
	}
	return n
}

// checkPlain panics when t can hold a pointer: the garbage collector
// does not look outside its heap, so a pointer kept here would not keep
// its target alive.
func checkPlain(t reflect.Type) {
	if !plain(t) {
		panic(fmt.Sprintf("offheap: %v holds pointers", t))
	}
}

func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || plain(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !plain(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
