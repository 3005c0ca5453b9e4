package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// reasonPackets reads vxtap_packets_total by reason from the daemon's
// /metrics: what the data path accounted since the program was loaded
// (its counters outlive every daemon restart).
func reasonPackets(t *testing.T, ns string) map[string]uint64 {
	out, err := inAppNS(t, ns, "curl", "-sf", "--max-time", "5", "http://127.0.0.1:9781/metrics")
	if err != nil {
		return nil
	}
	got := map[string]uint64{}
	for _, l := range strings.Split(out, "\n") {
		labels, ok := strings.CutPrefix(l, `vxtap_packets_total{`)
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(labels, `} `)
		_, name, ok2 := strings.Cut(labels, `reason="`)
		name, _, _ = strings.Cut(name, `"`)
		if !ok || !ok2 {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil && f > 0 {
			got[name] = uint64(f)
		}
	}
	return got
}

// labDrops lists the non-zero drop and error counters of every interface
// and queue in the lab's namespaces: a mirror copy the lab's own links
// dropped (a full veth ring or backlog under load) never reached vxtap.
func labDrops(t *testing.T, prefix string) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var found []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix+"-") {
			continue
		}
		ns := f[0]
		if ns == "" {
			continue
		}
		js, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show").Output()
		if err != nil {
			continue
		}
		var links []struct {
			Ifname  string `json:"ifname"`
			Stats64 struct {
				RX map[string]uint64 `json:"rx"`
				TX map[string]uint64 `json:"tx"`
			} `json:"stats64"`
		}
		if json.Unmarshal(js, &links) != nil {
			continue
		}
		var qdiscs []struct {
			Dev   string `json:"dev"`
			Kind  string `json:"kind"`
			Drops uint64 `json:"drops"`
		}
		if js, err := exec.Command("ip", "netns", "exec", ns, "tc", "-s", "-j", "qdisc", "show").Output(); err == nil && json.Unmarshal(js, &qdiscs) == nil {
			for _, q := range qdiscs {
				if q.Drops > 0 {
					found = append(found, fmt.Sprintf("%s/%s qdisc %s: drops=%d", ns, q.Dev, q.Kind, q.Drops))
				}
			}
		}
		for _, ln := range links {
			var bad []string
			for dir, m := range map[string]map[string]uint64{"rx": ln.Stats64.RX, "tx": ln.Stats64.TX} {
				for k, v := range m {
					if v > 0 && k != "bytes" && k != "packets" && k != "multicast" {
						bad = append(bad, fmt.Sprintf("%s_%s=%d", dir, k, v))
					}
				}
			}
			if len(bad) > 0 {
				sort.Strings(bad)
				found = append(found, ns+"/"+ln.Ifname+": "+strings.Join(bad, " "))
			}
		}
	}
	return found
}
