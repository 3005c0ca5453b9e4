package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vxtap/vxtap/loader"
	"golang.org/x/sys/unix"
)

// runDir holds the daemon's lock and state files ($VXTAP_RUN_DIR
// overrides it, for containers and tests).
var runDir = func() string {
	if v := os.Getenv("VXTAP_RUN_DIR"); v != "" {
		return v
	}
	return "/run/vxtap"
}()

// runState is what a running daemon tells `vxtap status`.
type runState struct {
	PID     int       `json:"pid"`
	Iface   string    `json:"iface"`
	Started time.Time `json:"started"`
	Mode    string    `json:"mode"`
	Driver  string    `json:"driver"`
	ProgID  uint32    `json:"prog_id"`
	Listen  string    `json:"listen"`
}

func statePath(iface string) string { return filepath.Join(runDir, iface+".json") }

func writeState(s runState) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	return os.WriteFile(statePath(s.Iface), b, 0o644)
}

func readState(iface string) (runState, error) {
	var s runState
	b, err := os.ReadFile(statePath(iface))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// instanceLock is an flock on /run/vxtap/<iface>.lock: the kernel drops
// it when the holder dies, so a stale file never blocks a restart. A clean
// stop removes the file.
type instanceLock struct {
	f    *os.File
	path string
}

// lockInstance takes the interface's lock or says who holds it.
func lockInstance(iface string) (*instanceLock, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", runDir, err)
	}
	path := filepath.Join(runDir, iface+".lock")
	// Bounded: each retry means a holder removed the file between our
	// open and our flock (or its check); a third time in a row is not a
	// race any more.
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open lock %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if !samePath(f, path) { // its holder stopped and removed it just now
				f.Close()
				continue
			}
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			f.Close()
			pid := strings.TrimSpace(string(b[:n]))
			return nil, fmt.Errorf("vxtap is already running on %s (pid %s, lock %s); it was left untouched", iface, pid, path)
		}
		// The lock counts only if the file is still the one at path: a
		// holder that stopped meanwhile removed it, and the next
		// instance would lock a new file.
		if !samePath(f, path) {
			f.Close()
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &instanceLock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: removed and created again under us three times", path)
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// release removes the file while still holding the lock (so no one can
// take a lock on it that would count), then lets go.
func (l *instanceLock) release() {
	os.Remove(l.path)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// checkBPFFS makes sure the pins land on a BPF filesystem.
func checkBPFFS() error {
	dir := filepath.Dir(loader.PinRoot)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("%s is not a BPF filesystem: mount it with `mount -t bpf bpf %s`", dir, dir)
	}
	return nil
}
