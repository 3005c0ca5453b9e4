// Package trafficgen drives a known traffic mix through the netns lab's
// mirror sources and reports, per one-way flow, exactly what crossed the
// mirrored interfaces: the counts vxtap must arrive at.
package trafficgen

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Source is one mirror source of the lab and the peer its workload talks to.
type Source struct {
	NS     string // namespace of the source (its workload interface is mirrored)
	VNI    uint32
	Iface  string // the mirrored workload interface
	PeerNS string
	WLv4   netip.Addr
	WLv6   netip.Addr
	PeerV4 netip.Addr
	PeerV6 netip.Addr
}

// Lab is what scripts/lab-up.sh wrote to /run/vxtap-lab/<prefix>.env.
type Lab struct {
	Prefix  string
	AppNS   string
	AppIf   string
	Sources []Source
	// Sessions is the lab's mirror sessions file (vxtap run --config);
	// empty for a lab brought up by an older lab-up.sh.
	Sessions string
}

// EnvPath is the facts file of a lab prefix.
func EnvPath(prefix string) string { return filepath.Join("/run/vxtap-lab", prefix+".env") }

// LoadLab reads a lab's facts file.
func LoadLab(prefix string) (*Lab, error) {
	path := EnvPath(prefix)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab %q is not up (%w): run scripts/lab-up.sh", prefix, err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE: %q", path, line, t)
		}
		kv[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &parser{path: path, kv: kv}
	lab := &Lab{Prefix: p.str("LAB_PREFIX"), AppNS: p.str("APP_NS"), AppIf: p.str("APP_IF"), Sessions: kv["SESSIONS"]}
	for _, n := range []string{"1", "2"} {
		lab.Sources = append(lab.Sources, Source{
			NS: p.str("SRC" + n + "_NS"), VNI: p.u32("SRC" + n + "_VNI"), Iface: p.str("WL_IF"),
			PeerNS: p.str("PEER" + n + "_NS"),
			WLv4:   p.addr("SRC" + n + "_WL_V4"), WLv6: p.addr("SRC" + n + "_WL_V6"),
			PeerV4: p.addr("PEER" + n + "_V4"), PeerV6: p.addr("PEER" + n + "_V6"),
		})
	}
	return lab, p.err
}

// parser reads typed values and keeps the first error, naming the key.
type parser struct {
	path string
	kv   map[string]string
	err  error
}

func (p *parser) str(k string) string {
	v, ok := p.kv[k]
	if !ok && p.err == nil {
		p.err = fmt.Errorf("%s: %s missing", p.path, k)
	}
	return v
}

func (p *parser) u32(k string) uint32 {
	v, err := strconv.ParseUint(p.str(k), 10, 32)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %s: %w", p.path, k, err)
	}
	return uint32(v)
}

func (p *parser) addr(k string) netip.Addr {
	a, err := netip.ParseAddr(p.str(k))
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s: %s: %w", p.path, k, err)
	}
	return a
}
