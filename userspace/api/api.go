// Package api is vxtap's local control API: HTTP/1.1 on a Unix socket,
// /run/vxtap/<iface>.sock, that `vxtap top` reads. Only root, the
// daemon's own user and members of group vxtap may connect: the socket's
// mode says so to the kernel, and the server checks each peer's
// credentials (SO_PEERCRED) as well.
//
// Endpoints (GET only; errors are JSON {"error": "...", "parameter": "..."}):
//
//	/v1/top?sort=rate|bytes|packets&group=5tuple|src|dst|pair|dport|vni|mirror&n=N&filter=EXPR
//	/v1/status
//	/v1/counters
//	/v1/findings?after=SEQ&type=TYPE&min_severity=X
//
// Bounds: n is at most MaxRows (n=0 asks for MaxRows), and the rows are
// streamed as they are encoded; at most MaxInFlight requests are answered
// at once and MaxGrouped grouped views built, the rest get 429 with
// Retry-After. A view reads the last sweep in place, copying nothing; a
// sweep of the rates that begins meanwhile is skipped, never held up.
package api

import (
	"os"
	"path/filepath"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/ifname"
	"github.com/vxtap/vxtap/userspace/pipeline"
	"github.com/vxtap/vxtap/userspace/rates"
)

// Provider is what the daemon hands the server. Parts builds one from the
// pieces the daemon already has.
type Provider interface {
	// View calls fn with the last sweep's rates; fn must not keep the
	// snapshot. *rates.Tracker implements it.
	View(fn func(*rates.Snapshot))
	// Counters are the data path's named counters, terminal reasons then
	// flags. *loader.Objects implements it (flow.CounterSource).
	Counters() (reasons, flags []flow.Counter, err error)
	// Status describes the daemon; called once per /v1/status request.
	Status() Status
}

// Status is the daemon's state as GET /v1/status returns it.
type Status struct {
	Iface            string            `json:"iface"`
	Version          string            `json:"version,omitempty"`
	PID              int               `json:"pid"`
	Started          time.Time         `json:"started"`
	Healthy          bool              `json:"healthy"`
	Health           string            `json:"health"` // why not healthy, or "ok"
	XDPMode          string            `json:"xdp_mode,omitempty"`
	Driver           string            `json:"driver,omitempty"`
	ProgID           uint32            `json:"prog_id,omitempty"`
	FlowTableSize    uint32            `json:"flow_table_size,omitempty"`
	Flows            int               `json:"flows"` // in the table at the last sweep
	LastSweepSeconds float64           `json:"last_sweep_seconds"`
	Records          map[string]uint64 `json:"records,omitempty"` // flow records written, by end reason
	Evicted          uint64            `json:"evicted"`           // removed early: the table was over 90% full
	Vanished         uint64            `json:"vanished"`          // left the table without the daemon
	Samples          uint64            `json:"samples"`
	Captures         int               `json:"captures"`       // live captures running (vxtap capture)
	CaptureCopies    uint64            `json:"capture_copies"` // copies they were sent
	// Sinks are the outputs' queues: written, dropped, errors, the last error.
	Sinks []pipeline.SinkStats `json:"sinks,omitempty"`
}

// Parts is a Provider made of the daemon's pieces.
type Parts struct {
	Rates      *rates.Tracker     // the daemon's sweep observer
	Datapath   flow.CounterSource // the loaded program's counters
	StatusFunc func() Status      // the daemon's state
	// Sessions, if set, names a VNI's mirror session ("" when it has none).
	Sessions func(vni uint32) string
}

// SessionNamer is a Provider that names the mirror session of a VNI, for
// the rows of /v1/top.
type SessionNamer interface {
	SessionName(vni uint32) string
}

func (p Parts) SessionName(vni uint32) string {
	if p.Sessions == nil {
		return ""
	}
	return p.Sessions(vni)
}

func (p Parts) View(fn func(*rates.Snapshot)) { p.Rates.View(fn) }

func (p Parts) Counters() ([]flow.Counter, []flow.Counter, error) { return p.Datapath.Counters() }

func (p Parts) Status() Status { return p.StatusFunc() }

// RunDir holds the sockets: /run/vxtap, or $VXTAP_RUN_DIR as for the
// daemon's lock and state files.
func RunDir() string {
	if v := os.Getenv("VXTAP_RUN_DIR"); v != "" {
		return v
	}
	return "/run/vxtap"
}

// SocketPath is the API socket of the daemon on iface in the caller's
// network namespace (ifname.Key: a same-named interface elsewhere has its own).
func SocketPath(iface string) string { return filepath.Join(RunDir(), ifname.Key(iface)+".sock") }
