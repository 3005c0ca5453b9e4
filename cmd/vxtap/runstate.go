package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/ifname"
	"golang.org/x/sys/unix"
)

// runDir holds the daemon's lock and state files ($VXTAP_RUN_DIR
// overrides it, for containers and tests), each named by the instance key
// (ifname.Key: interface and network namespace).
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

// statePath is the state file of iface in this network namespace.
func statePath(iface string) string { return stateFile(ifname.Key(iface)) }

func stateFile(key string) string { return filepath.Join(runDir, key+".json") }

// writeState replaces the state file through a private temporary file, so
// a planted symlink at its path is replaced, never followed.
func writeState(s runState) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp, err := os.CreateTemp(runDir, ".state-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), statePath(s.Iface))
}

func readState(iface string) (runState, error) { return readStateFile(statePath(iface)) }

func readStateFile(path string) (runState, error) {
	var s runState
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
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
