package loader

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDetachRemovesEmptyPinRoot: detaching the last instance leaves no
// empty pin root behind (tests, the demo and the soak all detach; an
// empty /sys/fs/bpf/vxtap was left after them), and detaching one of two
// keeps the root and the other's pins.
func TestDetachRemovesEmptyPinRoot(t *testing.T) {
	old := PinRoot
	PinRoot = filepath.Join(t.TempDir(), "vxtap")
	t.Cleanup(func() { PinRoot = old })
	for _, iface := range []string{"eth-a", "eth-b"} {
		if err := os.MkdirAll(PinDir(iface), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(PinDir(iface), "flow_ctl"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Detach("eth-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(PinDir("eth-b"), "flow_ctl")); err != nil {
		t.Fatalf("the other instance's pins: %v", err)
	}
	if err := Detach("eth-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(PinRoot); !os.IsNotExist(err) {
		t.Fatalf("pin root after the last detach: %v, want it gone", err)
	}
}
