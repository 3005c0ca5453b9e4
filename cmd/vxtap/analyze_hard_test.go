package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/vxtap/vxtap/userspace/testutil"
)

// withBigFrame copies a capture with an 80,000-byte frame (a BIG TCP
// super-frame, as a host capture records it) inserted as frame 3.
func withBigFrame(t *testing.T, src string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "big.pcap")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i := 1; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			big := make([]byte, 80000)
			copy(big, data)
			bci := ci
			bci.CaptureLength, bci.Length = len(big), len(big)
			if err := w.WritePacket(bci, big); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestAnalyzeBigFrame: one 80 KB frame used to abort analyze with
// "cannot allocate memory" and print nothing. It is named by frame number,
// counted under frame_too_large, and every other frame is analyzed.
func TestAnalyzeBigFrame(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	corpus := testutil.CorpusDir(t)
	name := "zeek_vxlan-encapsulated-http"
	want, _ := os.ReadFile(filepath.Join(corpus, name+".truth.tsv"))
	big := withBigFrame(t, filepath.Join(corpus, name+".pcap"))
	cmd := exec.Command(bin, "analyze", "--format", "tsv", "--counters", big)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("analyze with one 80 KB frame: %v\n%s", err, stderr.String())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the other frames' flows differ from the truth\n--- got\n%s--- want\n%s", got, want)
	}
	msg := stderr.String()
	if !strings.Contains(msg, "frame 3:") || !strings.Contains(msg, "frame_too_large") || !strings.Contains(msg, "80000-byte") {
		t.Errorf("stderr %q: want frame 3 named, counted as frame_too_large", msg)
	}
}

// TestAnalyzeStdin: `analyze -` and `analyze /dev/stdin` read the capture
// from standard input (a pipe); /dev/stdin used to say "empty file".
func TestAnalyzeStdin(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	corpus := testutil.CorpusDir(t)
	name := "zeek_vxlan-encapsulated-http"
	want, _ := os.ReadFile(filepath.Join(corpus, name+".truth.tsv"))
	data, err := os.ReadFile(filepath.Join(corpus, name+".pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"-", "/dev/stdin"} {
		cmd := exec.Command(bin, "analyze", "--format", "tsv", arg)
		cmd.Stdin = bytes.NewReader(data) // through a pipe
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		if err != nil {
			t.Errorf("analyze %s: %v\n%s", arg, err, stderr.String())
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("analyze %s differs from the truth\n--- got\n%s--- want\n%s", arg, got, want)
		}
	}
}
