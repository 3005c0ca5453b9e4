package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vxtap/vxtap/userspace/ifname"
	"golang.org/x/sys/unix"
)

// instanceLock is an flock on <runDir>/<key>.lock, key = interface and
// network namespace: the kernel drops it when the holder dies, so a dead
// holder never blocks a restart. The file is 0600 and ours: no other user
// can open it to hold a lock on it. A clean stop removes the file.
type instanceLock struct {
	f    *os.File
	path string
}

// lockInstance takes the interface's lock or says who holds it.
func lockInstance(iface string) (*instanceLock, error) {
	if err := ensureRunDir(); err != nil {
		return nil, err
	}
	path := filepath.Join(runDir, ifname.Key(iface)+".lock")
	// Bounded: each retry means the file was removed or replaced between
	// our open and our flock (a holder stopping, or a foreign file we
	// replaced); a third time in a row is not a race any more.
	for range 3 {
		f, trusted, err := openLockFile(path)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			if !samePath(f, path) { // its holder stopped and removed it just now
				f.Close()
				continue
			}
			holders := lockHolders(f)
			if trusted || holdersOurs(f, holders) {
				f.Close()
				return nil, fmt.Errorf("vxtap is already running on %s (pid %s, lock %s); it was left untouched", iface, pidList(holders), path)
			}
			// A file another user could open, held only by others: not
			// an instance of ours. Put a file of our own in its place.
			f.Close()
			if err := replaceLockFile(path); err != nil {
				return nil, err
			}
			continue
		}
		// The lock counts only if the file is still the one at path: a
		// holder that stopped meanwhile removed it, and the next
		// instance would lock a new file.
		if !samePath(f, path) {
			f.Close()
			continue
		}
		if !trusted { // ours now, but others may have it open: replace it
			f.Close()
			if err := replaceLockFile(path); err != nil {
				return nil, err
			}
			continue
		}
		f.Truncate(0)
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		return &instanceLock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("lock %s: removed and created again under us three times", path)
}

// ensureRunDir creates the run directory (0755), and refuses one that is
// not a directory of ours, or that others may write to: they could plant
// or swap lock, state and socket files there.
func ensureRunDir() error {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", runDir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(runDir, &st); err != nil {
		return fmt.Errorf("%s: %w", runDir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("run directory %s is not a directory (a symlink?): refusing it", runDir)
	case !trustedOwner(st.Uid):
		return fmt.Errorf("run directory %s belongs to uid %d, not to us (uid %d) or root: refusing it", runDir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("run directory %s is writable by group or others (mode %o): refusing it (chmod 755)", runDir, st.Mode&0o777)
	}
	return nil
}

// openLockFile opens (creating 0600) the lock file without following a
// symlink; trusted means a regular file of ours that no one else may open.
// A symlink or anything else that is not a regular file is replaced.
func openLockFile(path string) (*os.File, bool, error) {
	for range 2 {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EISDIR) {
			if err := replaceLockFile(path); err != nil {
				return nil, false, err
			}
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("open lock %s: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, false, fmt.Errorf("lock %s: %w", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			if err := replaceLockFile(path); err != nil {
				return nil, false, err
			}
			continue
		}
		trusted := trustedOwner(st.Uid) && st.Mode&0o077 == 0 && st.Nlink == 1
		return os.NewFile(uintptr(fd), path), trusted, nil
	}
	return nil, false, fmt.Errorf("lock %s: not a regular file after replacing it", path)
}

// replaceLockFile puts a new empty 0600 file of ours at path, atomically
// (rename replaces a file, a symlink or a socket; never follows one).
func replaceLockFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lock-")
	if err != nil {
		return fmt.Errorf("replace lock %s: %w", path, err)
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("replace lock %s (remove it by hand): %w", path, err)
	}
	return nil
}

// samePath reports whether the open file f is still the file at path.
func samePath(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Lstat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// lockHolders lists the pids /proc/locks names as holding an flock on f
// (the kernel's word, not the pid written in the file, which may be a
// dead holder's).
func lockHolders(f *os.File) []int {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return nil
	}
	pl, err := os.Open("/proc/locks")
	if err != nil {
		return nil
	}
	defer pl.Close()
	var pids []int
	sc := bufio.NewScanner(pl)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; waiters have "->".
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		id := strings.Split(fields[5], ":")
		if len(id) != 3 {
			continue
		}
		maj, e1 := strconv.ParseUint(id[0], 16, 32)
		mnr, e2 := strconv.ParseUint(id[1], 16, 32)
		ino, e3 := strconv.ParseUint(id[2], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil || ino != st.Ino || unix.Mkdev(uint32(maj), uint32(mnr)) != st.Dev {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// trustedOwner: files and directories of ours, of root, or (when we are
// root, as `vxtap detach` by an operator is) of the service user a
// systemd unit runs the daemon as.
func trustedOwner(uid uint32) bool {
	return int(uid) == os.Geteuid() || uid == 0 || os.Geteuid() == 0
}

// holdersOurs reports whether one of pids runs as our user, root or the
// lock file's owner: an instance of vxtap (an older one made its lock file
// 0644), not another user holding it to block restarts.
func holdersOurs(f *os.File, pids []int) bool {
	var fst unix.Stat_t
	if unix.Fstat(int(f.Fd()), &fst) != nil {
		return false
	}
	for _, pid := range pids {
		var st unix.Stat_t
		if pid <= 0 || unix.Stat(filepath.Join("/proc", strconv.Itoa(pid)), &st) != nil {
			continue
		}
		if int(st.Uid) == os.Geteuid() || st.Uid == 0 || st.Uid == fst.Uid {
			return true
		}
	}
	return false
}

func pidList(pids []int) string {
	if len(pids) == 0 {
		return "unknown"
	}
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// release removes the file while still holding the lock (so no one can
// take a lock on it that would count), then lets go.
func (l *instanceLock) release() {
	os.Remove(l.path)
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}
