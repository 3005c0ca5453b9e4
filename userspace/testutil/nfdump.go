package testutil

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// NfdumpFlow is one record of `nfdump -o raw`: field name to value, as
// nfdump prints them ("src addr", "in packets", "first", ...).
type NfdumpFlow map[string]string

// Num reads a numeric field: its first word, decimal or 0x hex.
func (f NfdumpFlow) Num(t testing.TB, name string) uint64 {
	t.Helper()
	v, ok := f[name]
	if !ok {
		t.Fatalf("nfdump record lacks %q: %v", name, f)
	}
	word, _, _ := strings.Cut(v, " ")
	n, err := strconv.ParseUint(word, 0, 64)
	if err != nil {
		t.Fatalf("nfdump %s = %q: %v", name, v, err)
	}
	return n
}

// NfcapdFile is the one file nfcapd wrote to dir (it renames
// nfcapd.current.PID to nfcapd.YYYYMMDDhhmm when it stops).
func NfcapdFile(t testing.TB, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "nfcapd.2*"))
	if len(files) != 1 {
		t.Fatalf("nfcapd wrote %v to %s, want one file", files, dir)
	}
	return files[0]
}

// NfdumpRead runs `nfdump -r file -o raw`, which prints every field at
// full precision (the fmt time columns of nfdump 1.7.1 misprint
// milliseconds), and splits it into records.
func NfdumpRead(t testing.TB, nfdump, file string) []NfdumpFlow {
	t.Helper()
	out, err := exec.Command(nfdump, "-r", file, "-q", "-o", "raw").CombinedOutput()
	if err != nil {
		t.Fatalf("nfdump -r %s: %v\n%s", file, err, out)
	}
	var fs []NfdumpFlow
	for _, block := range strings.Split(string(out), "Flow Record:")[1:] {
		f := NfdumpFlow{}
		for _, line := range strings.Split(block, "\n") {
			if name, value, ok := strings.Cut(line, "="); ok {
				f[strings.TrimSpace(name)] = strings.TrimSpace(value)
			}
		}
		fs = append(fs, f)
	}
	return fs
}
