// Package testutil holds helpers shared by vxtap's tests.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RequirePrivileged skips a test that needs root (BPF, network namespaces),
// or fails it when VXTAP_REQUIRE_PRIVILEGED=1: in CI, which runs as root,
// a privileged test that does not run is a failure, not a skip.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatal("test needs root (CAP_BPF, CAP_NET_ADMIN) and VXTAP_REQUIRE_PRIVILEGED=1 forbids skipping it")
	}
	t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN); set VXTAP_REQUIRE_PRIVILEGED=1 to make this a failure")
}

// RepoRoot is the directory holding go.mod, found from the test's cwd.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// CorpusDir is ../shared/corpus/real beside the repository (or
// $VXTAP_CORPUS). A missing corpus fails the test: it is part of the suite.
func CorpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("VXTAP_CORPUS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "corpus", "real")
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("real capture corpus not found at %s (set VXTAP_CORPUS): %v", dir, err)
	}
	return dir
}

// BuildVxtap builds the vxtap binary once per test binary into dir.
func BuildVxtap(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vxtap")
	cmd := goCommand(RepoRoot(t), "build", "-o", bin, "./cmd/vxtap")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vxtap: %v\n%s", err, out)
	}
	return bin
}
