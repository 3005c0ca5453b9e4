package rates

import (
	"syscall"
	"unsafe"
)

// mmapRows is the size from which a reader's copy is mapped from the
// kernel rather than taken from the Go heap: a million flows' copy (40
// MB) then goes back to the system the moment the reader is done,
// instead of staying in the process for a garbage collector that has no
// reason to return it. Rows hold no pointers, so they may live outside
// the heap.
const mmapRows = 1 << 20 // bytes

// rowBuffer returns n rows and the function that gives them back.
func rowBuffer(n int) ([]row, func()) {
	size := n * int(unsafe.Sizeof(row{}))
	if size < mmapRows {
		return make([]row, n), func() {}
	}
	// Populated: the pages are touched here, in one go, not one fault
	// at a time while the copy holds the sweep up.
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_POPULATE)
	if err != nil {
		return make([]row, n), func() {} // no mapping: the heap will do
	}
	return unsafe.Slice((*row)(unsafe.Pointer(&mem[0])), n), func() { syscall.Munmap(mem) }
}
