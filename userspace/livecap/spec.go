// Package livecap runs `vxtap capture` inside the daemon: a capture is a
// top-view filter compiled into one of the data path's capture slots
// (bpf/include/capture.h), and a bounded queue the ring-buffer reader
// hands that capture's copies to without ever waiting. The stream to the
// client (stream.go) is framed so the client can write pcapng itself.
package livecap

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vxtap/vxtap/userspace/topview"
)

// Limits of the data path (enum capture_const in vxtap_shared.h; the
// loader checks they agree).
const (
	MaxSlots   = 8    // captures at once
	MaxTerms   = 8    // terms of one capture filter
	MaxSnapLen = 2048 // largest snap length the data path copies
)

// Spec is one capture as the data path runs it.
type Spec struct {
	Terms   []topview.Term // all must match
	SnapLen uint32         // bytes of inner frame per copy
	Limit   uint64         // stop after this many copies, 0 = none (-c)
	Gen     uint8          // generation of the slot, echoed by every copy
}

// Counters are the data path's counts of one capture slot.
type Counters struct {
	Matched   uint64 `json:"matched"`    // accounted copies the filter matched
	Sent      uint64 `json:"sent"`       // put in the ring buffer
	Lost      uint64 `json:"lost"`       // ring buffer full
	OverLimit uint64 `json:"over_limit"` // matched after the -c limit was reached
}

// Sessions maps session names to VNIs (from the daemon's configuration).
type Sessions map[string]uint32

// ParseFilter reads the top view's filter language plus `session NAME`,
// which stands for the VNI of that session.
func ParseFilter(expr string, sessions Sessions) (topview.Filter, error) {
	words := strings.Fields(expr)
	for i := 0; i < len(words); i++ {
		if strings.ToLower(words[i]) != "session" {
			continue
		}
		if i+1 >= len(words) {
			return topview.Filter{}, fmt.Errorf("filter: \"session\" needs a session name after it")
		}
		name := words[i+1]
		vni, ok := sessions[name]
		if !ok {
			if n, err := strconv.ParseUint(name, 10, 24); err == nil {
				vni, ok = uint32(n), true // session given by its VNI
			}
		}
		if !ok {
			return topview.Filter{}, fmt.Errorf("filter: session %q: no such session in the daemon's configuration (%s)", name, sessionList(sessions))
		}
		words[i], words[i+1] = "vni", strconv.FormatUint(uint64(vni), 10)
	}
	f, err := topview.ParseFilter(strings.Join(words, " "))
	if err != nil {
		return f, err
	}
	if n := len(f.Terms()); n > MaxTerms {
		return topview.Filter{}, fmt.Errorf("filter: %d terms, the data path checks at most %d", n, MaxTerms)
	}
	return f, nil
}

func sessionList(s Sessions) string {
	if len(s) == 0 {
		return "it names none"
	}
	var names []string
	for n := range s {
		names = append(names, n)
	}
	if len(names) > 5 {
		names = append(names[:5], "...")
	}
	return "known: " + strings.Join(names, ", ")
}
