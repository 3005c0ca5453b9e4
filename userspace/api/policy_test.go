package api

import (
	"errors"
	"os"
	"testing"
)

func TestPolicy(t *testing.T) {
	groups := func(pid int32) []uint32 { return map[int32][]uint32{7: {10, 20}}[pid] }
	tests := []struct {
		name string
		p    policy
		peer peer
		want string // "" = allowed
	}{
		{"root", policy{owner: 999, group: -1}, peer{uid: 0, gid: 0}, ""},
		{"owner", policy{owner: 999, group: -1}, peer{uid: 999, gid: 5}, ""},
		{"stranger", policy{owner: 999, group: -1}, peer{uid: 1000, gid: 1000}, "uid 1000 may not use the vxtap API: only root or uid 999"},
		{"primary group", policy{owner: 0, group: 20}, peer{uid: 1000, gid: 20}, ""},
		{"supplementary group", policy{owner: 0, group: 20, groupsOf: groups}, peer{uid: 1000, gid: 1000, pid: 7}, ""},
		{"other groups", policy{owner: 0, group: 30, groupsOf: groups}, peer{uid: 1000, gid: 1000, pid: 7},
			"uid 1000 may not use the vxtap API: only root or members of group vxtap"},
		{"group but no group configured", policy{owner: 0, group: -1, groupsOf: groups}, peer{uid: 1000, gid: 20, pid: 7},
			"uid 1000 may not use the vxtap API: only root"},
		{"unreadable credentials", policy{owner: 0, group: -1}, peer{err: errors.New("boom")}, "could not read the peer's credentials: boom"},
	}
	for _, tc := range tests {
		err := tc.p.allow(tc.peer)
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestProcGroups(t *testing.T) {
	gs, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	got := procGroups(int32(os.Getpid()))
	if len(got) != len(gs) {
		t.Errorf("procGroups = %v, os.Getgroups = %v", got, gs)
	}
}
