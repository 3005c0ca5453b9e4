// Package ifname checks interface names given on the command line, and
// keys a daemon's files (lock, state, socket, pins) by interface and
// network namespace, so two appliances with the same interface name in
// two namespaces never share one.
package ifname

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MaxLen is IFNAMSIZ-1: the kernel refuses longer names.
const MaxLen = 15

// Check refuses what the kernel never names an interface (empty, longer
// than 15 bytes, ".", "..", '/', ':', white space or control characters),
// so a name can be joined to a path without leaving its directory.
func Check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > MaxLen:
		return fmt.Errorf("interface name %q is %d bytes long: at most %d (IFNAMSIZ-1)", name, len(name), MaxLen)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not a name", name)
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b == '/' || b == ':':
			return fmt.Errorf("interface name %q contains %q", name, string(b))
		case b <= ' ' || b == 0x7f:
			return fmt.Errorf("interface name %q contains a space or control character (byte %d)", name, i)
		}
	}
	return nil
}

// initNetInode is the fixed inode of the initial network namespace on
// kernels that have one (PROC_NET_INIT_INO); used when /proc/1 is hidden.
const initNetInode = 0xEFFFFFF9

// nsInode is the inode of the network namespace behind a /proc ns link.
func nsInode(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// Netns is the inode of the calling thread's network namespace, and
// whether it is the host's (the one PID 1 runs in).
func Netns() (inode uint64, home bool) {
	inode, ok := nsInode("/proc/thread-self/ns/net")
	if !ok {
		if inode, ok = nsInode("/proc/self/ns/net"); !ok {
			return 0, true // no /proc: nothing to tell namespaces apart by
		}
	}
	init, ok := nsInode("/proc/1/ns/net")
	if !ok {
		init = initNetInode
	}
	return inode, inode == init
}

// Key names the instance of iface in the caller's network namespace:
// the bare name in the host namespace (as before namespaces were told
// apart), "<iface>:ns<inode>" elsewhere. ':' never occurs in an interface
// name, so a key never equals another interface's name.
func Key(iface string) string {
	inode, home := Netns()
	if home {
		return iface
	}
	return iface + ":ns" + strconv.FormatUint(inode, 10)
}

// Local returns the interface name of key when key belongs to the
// caller's network namespace.
func Local(key string) (iface string, ok bool) {
	name, ns, found := strings.Cut(key, ":ns")
	inode, home := Netns()
	if !found {
		return key, home
	}
	n, err := strconv.ParseUint(ns, 10, 64)
	return name, err == nil && n == inode && !home
}
