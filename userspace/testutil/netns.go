package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Sh runs a shell command and fails the test on error.
func Sh(t testing.TB, format string, args ...any) string {
	t.Helper()
	cmdline := fmt.Sprintf(format, args...)
	out, err := exec.Command("bash", "-c", cmdline).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	return string(out)
}

// Netns creates a network namespace that is deleted when the test ends
// (with every link inside it). Names carry the PID so parallel test
// binaries never collide.
func Netns(t testing.TB, base string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", base, os.Getpid())
	exec.Command("ip", "netns", "del", name).Run()
	Sh(t, "ip netns add %s && ip -n %s link set lo up", name, name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// InNetns prefixes a command so it runs in a namespace's network only:
// nsenter keeps the host's mounts, so /sys/fs/bpf pins stay shared (ip
// netns exec would remount /sys and hide them).
func InNetns(ns string, argv ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + ns}, argv...)
}

// VXLANPair builds a mirror source and an appliance: namespace src with a
// Linux vxlan device (VNI vni) sending to the appliance's veth in
// namespace app, addresses from 198.18.0.0/15. It returns the appliance
// interface name and the inner destination address to send to.
func VXLANPair(t testing.TB, src, app string, vni int, subnet int) (iface, innerDst string) {
	t.Helper()
	iface = fmt.Sprintf("vxa%d", subnet)
	peer := fmt.Sprintf("vxs%d", subnet)
	Sh(t, "ip link add %s type veth peer name %s", peer, iface)
	Sh(t, "ip link set %s netns %s && ip link set %s netns %s", peer, src, iface, app)
	Sh(t, "ip -n %s addr add 198.18.%d.1/24 dev %s && ip -n %s link set %s up", src, subnet, peer, src, peer)
	Sh(t, "ip -n %s addr add 198.18.%d.2/24 dev %s && ip -n %s link set %s up", app, subnet, iface, app, iface)
	Sh(t, "ip -n %s link add vx0 type vxlan id %d remote 198.18.%d.2 local 198.18.%d.1 dstport 4789", src, vni, subnet, subnet)
	Sh(t, "ip -n %s addr add 198.19.%d.1/24 dev vx0 && ip -n %s link set vx0 up", src, subnet, src)
	innerDst = fmt.Sprintf("198.19.%d.2", subnet)
	// A static neighbour: no ARP inside the tunnel, so the only inner
	// traffic is what the test sends.
	Sh(t, "ip -n %s neigh add %s lladdr 02:00:00:00:00:02 dev vx0", src, innerDst)
	return iface, innerDst
}

// Quote joins argv for a shell.
func Quote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
