package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// FuzzReader: any file is read frame by frame or refused with an error;
// never a crash or a hang, and every frame it returns is numbered in order.
func FuzzReader(f *testing.F) {
	f.Add(ngFile(f, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, []int{0, 1, 0}))
	f.Add(ngFile(f, []layers.LinkType{layers.LinkTypeRaw}, []int{0}))
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0})
	// From memory: a file per input would measure the disk, not the reader.
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := newReader("fuzz.cap", bytes.NewReader(data))
		if err != nil {
			return
		}
		last := 0
		// Bounded: every frame consumes at least a record header of the input.
		for i := 0; i <= len(data); i++ {
			fr, err := r.Next()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			if fr.Index <= last {
				t.Fatalf("frame %d after frame %d", fr.Index, last)
			}
			last = fr.Index
		}
		for _, s := range r.Skipped() {
			_ = s.String()
		}
	})
}
