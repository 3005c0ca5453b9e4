package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestInstanceLock: one daemon per interface; the second is told who
// holds it; a clean stop leaves no file, and the next one locks anew.
func TestInstanceLock(t *testing.T) {
	old := runDir
	runDir = t.TempDir()
	t.Cleanup(func() { runDir = old })
	path := filepath.Join(runDir, "eth9.lock")

	l, err := lockInstance("eth9")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	_, err = lockInstance("eth9")
	if err == nil || !strings.Contains(err.Error(), "already running on eth9 (pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	other, err := lockInstance("eth8")
	if err != nil {
		t.Fatalf("another interface: %v", err)
	}
	other.release()
	l.release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock file left after release: %v", err)
	}
	l2, err := lockInstance("eth9")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.release()
}

// TestInstanceLockStaleFile: a file left by a killed holder (no flock on
// it) does not block.
func TestInstanceLockStaleFile(t *testing.T) {
	old := runDir
	runDir = t.TempDir()
	t.Cleanup(func() { runDir = old })
	if err := os.WriteFile(filepath.Join(runDir, "eth9.lock"), []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := lockInstance("eth9")
	if err != nil {
		t.Fatalf("stale lock file blocked: %v", err)
	}
	l.release()
}
