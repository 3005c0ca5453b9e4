package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngFile builds a pcapng with one interface per link type and the frames
// given as interface indexes, each 60 bytes.
func ngFile(t testing.TB, linkTypes []layers.LinkType, frames []int) []byte {
	t.Helper()
	var buf bytes.Buffer
	first := pcapgo.DefaultNgInterface
	first.LinkType, first.Name = linkTypes[0], "if0"
	w, err := pcapgo.NewNgWriterInterface(&buf, first, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, lt := range linkTypes[1:] {
		intf := pcapgo.DefaultNgInterface
		intf.LinkType, intf.Name = lt, "if"+string(rune('1'+i))
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for i, ifx := range frames {
		data := make([]byte, 60)
		data[0] = byte(i)
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)), CaptureLength: 60, Length: 60, InterfaceIndex: ifx}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.pcapng")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t *testing.T, r *Reader) []int {
	t.Helper()
	var idx []int
	for {
		fr, err := r.Next()
		if err == io.EOF {
			return idx
		}
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, fr.Index)
	}
}

// TestPcapngNonEthernetInterface: the frames of a second interface that is
// not Ethernet used to be dropped unseen (the reader's default). They are
// counted per interface, named, and the Ethernet frames keep Wireshark's
// frame numbers.
func TestPcapngNonEthernetInterface(t *testing.T) {
	p := writeFile(t, ngFile(t, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, []int{0, 1, 1, 0, 1}))
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := readAll(t, r); len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("Ethernet frames %v, want frames 1 and 4", got)
	}
	sk := r.Skipped()
	if len(sk) != 1 || sk[0].Interface != 1 || sk[0].Name != "if1" || sk[0].Frames != 3 || sk[0].First != 2 || sk[0].Bytes != 180 {
		t.Fatalf("skipped %+v, want interface 1 (if1): 3 frames from frame 2", sk)
	}
	if msg := sk[0].String(); !strings.Contains(msg, "interface 1 (if1)") || !strings.Contains(msg, "link type 113") {
		t.Errorf("message %q does not name the interface and its link type", msg)
	}

	// A first interface that is not Ethernet no longer rejects the file.
	p = writeFile(t, ngFile(t, []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeEthernet}, []int{0, 1}))
	r2, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := readAll(t, r2); len(got) != 1 || got[0] != 2 {
		t.Fatalf("Ethernet frames %v, want frame 2", got)
	}
	if sk := r2.Skipped(); len(sk) != 1 || sk[0].Frames != 1 {
		t.Fatalf("skipped %+v", sk)
	}
}

// TestOpenPipe: a capture from a pipe (`analyze /dev/stdin`, or `-`) used
// to be refused as "empty file" (a pipe has no size).
func TestOpenPipe(t *testing.T) {
	data := ngFile(t, []layers.LinkType{layers.LinkTypeEthernet}, []int{0, 0, 0})
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	r, err := Open(fifo)
	if err != nil {
		t.Fatalf("capture from a pipe: %v", err)
	}
	if got := readAll(t, r); len(got) != 3 {
		t.Fatalf("%d frames from the pipe, want 3", len(got))
	}
	r.Close()

	// "-" is standard input.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = old; pr.Close() }()
	go func() { pw.Write(data); pw.Close() }()
	r, err = Open("-")
	if err != nil {
		t.Fatalf("capture from standard input: %v", err)
	}
	if got := readAll(t, r); len(got) != 3 {
		t.Fatalf("%d frames from standard input, want 3", len(got))
	}
	r.Close()

	// An empty pipe is still named as empty.
	pr2, pw2, _ := os.Pipe()
	pw2.Close()
	os.Stdin = pr2
	if _, err := Open("-"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty standard input: %v", err)
	}
	pr2.Close()
}
