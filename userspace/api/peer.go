package api

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// peer is who is on the other end of a connection, as the kernel says.
type peer struct {
	uid, gid uint32
	pid      int32
	err      error // credentials could not be read: refuse
}

type peerKey struct{}

// peerCred reads SO_PEERCRED: the credentials the peer had at connect().
func peerCred(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{err: fmt.Errorf("not a unix socket connection")}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{err: err}
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return peer{err: err}
	}
	if cerr != nil {
		return peer{err: cerr}
	}
	return peer{uid: cred.Uid, gid: cred.Gid, pid: cred.Pid}
}

// connContext puts the peer's credentials in each request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, peerCred(c))
}

// policy says who may use the API: root, the daemon's own user (the
// socket's owner) and members of the socket's group.
type policy struct {
	owner uint32
	group int // -1: no group
	// groupsOf lists a process's supplementary groups; SO_PEERCRED
	// carries only the primary one.
	groupsOf func(pid int32) []uint32
}

// allow returns nil or why the peer is refused.
func (p policy) allow(pr peer) error {
	if pr.err != nil {
		return fmt.Errorf("could not read the peer's credentials: %v", pr.err)
	}
	if pr.uid == 0 || pr.uid == p.owner {
		return nil
	}
	if p.group >= 0 {
		if pr.gid == uint32(p.group) {
			return nil
		}
		if p.groupsOf != nil {
			for _, g := range p.groupsOf(pr.pid) {
				if g == uint32(p.group) {
					return nil
				}
			}
		}
	}
	who := fmt.Sprintf("root or uid %d", p.owner)
	if p.owner == 0 {
		who = "root"
	}
	if p.group >= 0 {
		who += fmt.Sprintf(" or members of group %s", groupName)
	}
	return fmt.Errorf("uid %d may not use the vxtap API: only %s", pr.uid, who)
}

// procGroups reads a process's supplementary groups from /proc.
func procGroups(pid int32) []uint32 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, w := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(w, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}
