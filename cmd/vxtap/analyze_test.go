package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vxtap/vxtap/userspace/testutil"
)

var (
	binOnce sync.Once
	binPath string
	binDir  string
)

// vxtapBin builds the CLI once for this test binary.
func vxtapBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		var err error
		binDir, err = os.MkdirTemp("", "vxtap-bin-")
		if err != nil {
			t.Fatal(err)
		}
		binPath = testutil.BuildVxtap(t, binDir)
	})
	if binPath == "" {
		t.Fatal("vxtap build failed earlier")
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestAnalyzeCorpus: `vxtap analyze --format tsv` prints exactly the tshark
// ground truth of each real capture.
func TestAnalyzeCorpus(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := testutil.CorpusDir(t)
	pcaps, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if len(pcaps) != 12 {
		t.Fatalf("want the 12 corpus captures in %s, found %d", dir, len(pcaps))
	}
	bin := vxtapBin(t)
	for _, p := range pcaps {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(p, ".pcap") + ".truth.tsv")
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "analyze", "--format", "tsv", p).Output()
			if err != nil {
				t.Fatalf("vxtap analyze: %v (%s)", err, stderrOf(err))
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from truth\n--- got\n%s--- want\n%s", out, want)
			}
		})
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// pcapHeader is a classic pcap global header with the given link type.
func pcapHeader(linkType uint32) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	return h
}

// TestAnalyzeBadInput: every bad file gets a clear error naming the file
// and what is wrong, and a non-zero exit.
func TestAnalyzeBadInput(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	dir := t.TempDir()
	corpus := testutil.CorpusDir(t)
	real, err := os.ReadFile(filepath.Join(corpus, "ndpi_vxlan-outer-vlan.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	rawIP := append(pcapHeader(101), make([]byte, 16)...) // one empty record header
	cases := []struct {
		name, file string
		data       []byte
		wantErr    string
	}{
		{"empty", "empty.pcap", nil, "empty file, not a pcap or pcapng capture"},
		{"not a capture", "notes.txt", []byte("hello, this is text\n"), "not a pcap or pcapng capture"},
		{"short header", "short.pcap", []byte{0xd4, 0xc3}, "too short for a capture file header"},
		{"cut header", "cut.pcap", pcapHeader(1)[:10], "bad pcap header"},
		{"truncated", "truncated.pcap", real[:3000], "frame 10: capture truncated"},
		{"raw IP link type", "rawip.pcap", rawIP, "link type 101"},
		{"missing", "does-not-exist.pcap", nil, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			if c.name != "missing" {
				if err := os.WriteFile(path, c.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "analyze", "--format", "tsv", path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err == nil {
				t.Fatalf("exit 0, want an error; stdout:\n%s", out)
			}
			msg := stderr.String()
			if !strings.Contains(msg, path) || !strings.Contains(msg, c.wantErr) {
				t.Errorf("stderr %q: want the file name and %q", msg, c.wantErr)
			}
			if c.name == "truncated" && !strings.Contains(string(out), "1111\t") {
				t.Errorf("truncated capture: the flows of the whole frames read should still print, got:\n%s", out)
			}
		})
	}
}

// TestAnalyzePcapng: the same captures converted to pcapng by editcap
// give the same flows.
func TestAnalyzePcapng(t *testing.T) {
	testutil.RequirePrivileged(t)
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		t.Fatal("editcap (package tshark) is needed: scripts/deps.sh installs it")
	}
	bin := vxtapBin(t)
	corpus := testutil.CorpusDir(t)
	for _, name := range []string{"suricata-verify_vxlan-decoder-03_aws-traffic-mirror", "zeek_geneve-vxlan-dns-truncated", "zeek_vxlan-encapsulated-http"} {
		t.Run(name, func(t *testing.T) {
			ng := filepath.Join(t.TempDir(), name+".pcapng")
			if out, err := exec.Command(editcap, "-F", "pcapng", filepath.Join(corpus, name+".pcap"), ng).CombinedOutput(); err != nil {
				t.Fatalf("editcap: %v %s", err, out)
			}
			want, _ := os.ReadFile(filepath.Join(corpus, name+".truth.tsv"))
			got, err := exec.Command(bin, "analyze", "--format", "tsv", ng).Output()
			if err != nil {
				t.Fatalf("vxtap analyze: %v (%s)", err, stderrOf(err))
			}
			if !bytes.Equal(got, want) {
				t.Errorf("pcapng output differs\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

// TestBadDurationFlags: a zero or negative timeout is refused before
// anything loads, naming the flag.
func TestBadDurationFlags(t *testing.T) {
	bin := vxtapBin(t)
	ns := "" // made at the first run case: analyze needs none
	for _, args := range [][]string{
		{"analyze", "--idle-timeout", "0s", "x.pcap"},
		{"analyze", "--active-timeout", "-1s", "x.pcap"},
		{"run", "--iface", "lo", "--idle-timeout", "0"},
		{"run", "--iface", "lo", "--sweep-interval", "0s"},
	} {
		cmd := exec.Command(bin, args...)
		if args[0] == "run" {
			if ns == "" {
				ns = badRunNS(t)
			}
			cmd = runInNS(ns, bin, args...)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
		flag := args[len(args)-2]
		if args[0] == "analyze" {
			flag = args[1]
		}
		if msg := stderr.String(); !strings.Contains(msg, "flag "+flag+":") || !strings.Contains(msg, "not a positive duration") {
			t.Errorf("%v: stderr %q, want the flag named", args, msg)
		}
	}
}
