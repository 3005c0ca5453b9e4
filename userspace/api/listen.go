package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// groupName is the group whose members may use the API besides root.
var groupName = "vxtap"

// socketGroup is the gid of groupName, -1 when there is no such group.
func socketGroup() int {
	g, err := user.LookupGroup(groupName)
	if err != nil {
		return -1
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1
	}
	return gid
}

// listenUnix creates the socket at path with its final owner and mode
// before anyone can reach it: it is bound in a private directory, set to
// 0600 (root:vxtap 0660 when the group exists), then renamed into place,
// so there is no moment it is open to all. A stale socket a dead daemon
// left is replaced; a live one is an error.
func listenUnix(path string) (*net.UnixListener, int, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, -1, fmt.Errorf("api socket: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, -1, err
	}
	tmp, err := os.MkdirTemp(dir, ".sock-")
	if err != nil {
		return nil, -1, fmt.Errorf("api socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: bound, Net: "unix"})
	if err != nil {
		return nil, -1, fmt.Errorf("api socket: %w", err)
	}
	l.SetUnlinkOnClose(false) // it is renamed away: Close removes path itself
	fail := func(err error) (*net.UnixListener, int, error) {
		l.Close()
		return nil, -1, fmt.Errorf("api socket %s: %w", path, err)
	}
	mode, gid := os.FileMode(0o600), socketGroup()
	if gid >= 0 {
		uid := -1 // a daemon running as user vxtap keeps the socket
		if os.Geteuid() == 0 {
			uid = 0
		}
		if err := os.Lchown(bound, uid, gid); err != nil {
			gid = -1 // not allowed to give it the group: owner only
		} else {
			mode = 0o660
		}
	}
	if err := os.Chmod(bound, mode); err != nil {
		return fail(err)
	}
	if err := os.Rename(bound, path); err != nil {
		return fail(err)
	}
	return l, gid, nil
}

// removeStale removes a socket no daemon answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("api socket %s exists and is not a socket: remove it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another vxtap daemon answers on it", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale api socket: %w", err)
	}
	return nil
}
