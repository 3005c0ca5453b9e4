package livebench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Lab is two network namespaces joined by a veth pair: the generator's
// side (GenIf) and the receiver's side (RxIf, where vxtap or a baseline
// attaches). Interfaces carry no addresses and no IPv6, so nothing but
// the generator's frames ever crosses the pair.
type Lab struct {
	GenNS, RxNS       string
	GenIf, RxIf       string
	GenIndex, RxIndex int
}

// NewLab builds the lab under prefix (at most 8 characters: interface
// names stay within 15 bytes and napi thread names stay recognisable).
// mtu must hold the frames (frame length - 14).
func NewLab(prefix string, mtu int) (*Lab, error) {
	if prefix == "" || len(prefix) > 8 {
		return nil, fmt.Errorf("lab prefix %q: 1..8 characters", prefix)
	}
	l := &Lab{GenNS: prefix + "-gen", RxNS: prefix + "-rx", GenIf: prefix + "-g", RxIf: prefix + "-r"}
	l.Close() // leftovers of a run that was killed
	steps := [][]string{
		{"ip", "netns", "add", l.GenNS},
		{"ip", "netns", "add", l.RxNS},
		{"ip", "-n", l.RxNS, "link", "set", "lo", "up"}, // nfcapd listens on 127.0.0.1 there
		{"ip", "link", "add", l.GenIf, "netns", l.GenNS, "type", "veth", "peer", "name", l.RxIf, "netns", l.RxNS},
	}
	for _, ns := range []struct{ ns, dev string }{{l.GenNS, l.GenIf}, {l.RxNS, l.RxIf}} {
		steps = append(steps,
			[]string{"ip", "netns", "exec", ns.ns, "sysctl", "-qw", "net.ipv6.conf." + ns.dev + ".disable_ipv6=1"},
			[]string{"ip", "-n", ns.ns, "link", "set", ns.dev, "mtu", strconv.Itoa(mtu), "up"})
	}
	// GRO gives the receiving veth a NAPI context even with no XDP program
	// (tcpdump, softflowd): without one a veth drops XDP_TX frames sent to it.
	steps = append(steps, []string{"ip", "netns", "exec", l.RxNS, "ethtool", "-K", l.RxIf, "gro", "on"})
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, bytes.TrimSpace(out))
		}
	}
	var err error
	if l.GenIndex, err = ifindex(l.GenNS, l.GenIf); err == nil {
		l.RxIndex, err = ifindex(l.RxNS, l.RxIf)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close removes both namespaces (and with them the veth pair).
func (l *Lab) Close() error {
	var errs []error
	for _, ns := range []string{l.GenNS, l.RxNS} {
		if _, err := os.Stat(NSPath(ns)); err != nil {
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %v: %s", ns, err, out))
		}
	}
	return errors.Join(errs...)
}

// NSPath is the bind mount of a named network namespace.
func NSPath(ns string) string { return filepath.Join("/run/netns", ns) }

// ifindex of dev inside ns.
func ifindex(ns, dev string) (int, error) {
	out, err := exec.Command("ip", "-n", ns, "-j", "link", "show", "dev", dev).Output()
	if err != nil {
		return 0, fmt.Errorf("ip -n %s link show %s: %w", ns, dev, err)
	}
	var links []struct {
		Ifindex int `json:"ifindex"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("ip -n %s link show %s: unexpected output %q", ns, dev, out)
	}
	return links[0].Ifindex, nil
}

// AttachedProgID is the id of the XDP program attached to the receiving
// interface, 0 if none.
func (l *Lab) AttachedProgID() (uint32, error) {
	out, err := exec.Command("ip", "-n", l.RxNS, "-j", "link", "show", "dev", l.RxIf).Output()
	if err != nil {
		return 0, fmt.Errorf("ip -n %s link show %s: %w", l.RxNS, l.RxIf, err)
	}
	var links []struct {
		XDP struct {
			Prog struct {
				ID uint32 `json:"id"`
			} `json:"prog"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("ip -n %s link show %s: unexpected output %q", l.RxNS, l.RxIf, out)
	}
	return links[0].XDP.Prog.ID, nil
}

// Ethtool is the sum over queues of the veth statistics named by suffix
// ("xdp_packets" sums rx_queue_*_xdp_packets), read with ethtool -S.
func Ethtool(ns, dev string) (map[string]uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "ethtool", "-S", dev).Output()
	if err != nil {
		return nil, fmt.Errorf("ethtool -S %s in %s: %w", dev, ns, err)
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			continue
		}
		m[name] += v
		// rx_queue_3_xdp_packets -> rx_xdp_packets: the per-queue sum.
		if f := strings.SplitN(name, "_", 4); len(f) == 4 && f[1] == "queue" {
			m[f[0]+"_"+f[3]] += v
		}
	}
	return m, nil
}

// RxXDPPackets is what the receiving veth ran through its NAPI loop
// (rx_queue_*_xdp_packets): every frame that arrived, whatever the
// program (or none) then did with it. The receiver-side truth.
func (l *Lab) RxXDPPackets() (uint64, error) {
	m, err := Ethtool(l.RxNS, l.RxIf)
	if err != nil {
		return 0, err
	}
	return m["rx_xdp_packets"], nil
}

// SetThreaded switches the receiving veth's NAPI to a kernel thread of its
// own (so XDP runs on the CPU that thread is pinned to) or back to softirq
// context (XDP runs on the generator's CPU).
func (l *Lab) SetThreaded(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	out, err := exec.Command("ip", "netns", "exec", l.RxNS, "sh", "-c",
		"echo "+v+" > /sys/class/net/"+l.RxIf+"/threaded").CombinedOutput()
	if err != nil {
		return fmt.Errorf("threaded NAPI %s on %s: %v: %s", v, l.RxIf, err, out)
	}
	return nil
}

// PinNapiThreads pins the receiving veth's napi threads ("napi/<dev>-<id>",
// cut to 15 bytes) to cpu and returns how many it found.
func (l *Lab) PinNapiThreads(cpu int) (int, error) {
	want := "napi/" + l.RxIf + "-"
	if len(want) > 15 {
		want = want[:15]
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	n := 0
	for _, d := range dirs {
		comm, err := os.ReadFile(d)
		if err != nil || !strings.HasPrefix(string(comm), want) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(pid, &set); err != nil {
			return n, fmt.Errorf("pin napi thread %d to CPU %d: %w", pid, cpu, err)
		}
		n++
	}
	return n, nil
}
