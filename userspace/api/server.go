package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/topview"
)

// MaxRows caps n (topview.MaxRows); n = 0 asks for this many.
const MaxRows = topview.MaxRows

// MaxInFlight bounds the requests the API answers at once: a view of a
// million flows takes a build of up to a few hundred milliseconds and a
// few MB (n rows), so a burst of clients must not multiply that.
// Requests past it get 429 at once rather than queueing.
const MaxInFlight = 4

// MaxGrouped bounds the grouped views (every grouping but 5tuple) built at
// once: grouping a million flows from a million sources takes a second
// and up to 15 MB (topview sums 32,768 groups at a time), where a
// 5-tuple view keeps n rows.
const MaxGrouped = 1

// Server serves the API on a Unix socket.
type Server struct {
	// CounterInterval is how often the data path counters are read for
	// their rates; 0 means a second.
	CounterInterval time.Duration

	iface  string
	path   string
	p      Provider
	l      *net.UnixListener
	srv    *http.Server
	policy policy
	meter  topview.DatapathMeter
	stop   chan struct{}
	once   sync.Once
	slots  chan struct{} // MaxInFlight tokens

	findingsSrc FindingsSource           // GET /v1/findings (findings.go); nil: detection off
	groups      chan struct{}            // MaxGrouped tokens
	capHub      *livecap.Hub             // GET /v1/capture (capture.go); nil: captures off
	capSessions func() map[uint32]string // VNI -> session name, for captures
}

// Listen creates the daemon's socket for iface (SocketPath) and returns
// a server ready to Serve.
func Listen(iface string, p Provider) (*Server, error) {
	return ListenPath(SocketPath(iface), iface, p)
}

// ListenPath is Listen on a socket path of the caller's choosing.
func ListenPath(path, iface string, p Provider) (*Server, error) {
	l, gid, err := listenUnix(path)
	if err != nil {
		return nil, err
	}
	s := &Server{iface: iface, path: path, p: p, l: l, stop: make(chan struct{}), slots: make(chan struct{}, MaxInFlight), groups: make(chan struct{}, MaxGrouped),
		policy: policy{owner: uint32(os.Geteuid()), group: gid, groupsOf: procGroups}}
	s.srv = &http.Server{Handler: s.Handler(), ConnContext: connContext,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve answers requests until Shutdown or Close; then it returns nil.
func (s *Server) Serve() error {
	go s.readCounters()
	err := s.srv.Serve(s.l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for requests in flight until ctx ends,
// and removes the socket.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	err := s.srv.Shutdown(ctx)
	if rerr := os.Remove(s.path); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = rerr
	}
	return err
}

// Close stops at once and removes the socket.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	err := s.srv.Close()
	os.Remove(s.path)
	return err
}

// readCounters reads the data path counters every interval, so rates
// are ready whenever a client asks.
func (s *Server) readCounters() {
	every := s.CounterInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if reasons, flags, err := s.p.Counters(); err == nil {
			s.meter.Update(time.Now(), reasons, flags)
		} else {
			log.Debug().Err(err).Msg("api: read data path counters")
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Handler is the API without the socket (and without the peer check,
// which needs the connection): for tests.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/top", s.top)
	mux.HandleFunc("/v1/status", s.status)
	mux.HandleFunc("/v1/counters", s.counters)
	mux.HandleFunc("/v1/findings", s.findings)
	mux.HandleFunc(CapturePath, s.capture)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("no endpoint %s: want /v1/top, /v1/status, /v1/counters, /v1/findings or /v1/capture", r.URL.Path))
	})
	return s.guard(mux)
}

// guard refuses peers the policy does not allow, and methods but GET.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pr, ok := r.Context().Value(peerKey{}).(peer); ok {
			if err := s.policy.allow(pr); err != nil {
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusForbidden, "", err.Error())
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed: the API is read-only (GET)", r.Method))
			return
		}
		if r.URL.Path == CapturePath {
			// Captures last long and have their own bound (livecap.MaxSlots).
			next.ServeHTTP(w, r)
			return
		}
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "", fmt.Sprintf("%d requests are being answered already: try again in a second", MaxInFlight))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// errorBody is every error's JSON.
type errorBody struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"` // the query parameter at fault
}

func writeError(w http.ResponseWriter, code int, param, msg string) {
	writeJSON(w, code, errorBody{Error: msg, Parameter: param})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// paramError is a malformed query parameter.
type paramError struct{ param, msg string }

func (e *paramError) Error() string { return "parameter " + e.param + ": " + e.msg }

// ParseQuery reads /v1/top's parameters; unknown and repeated ones are
// errors, so a typo is not silently ignored.
func ParseQuery(v url.Values) (topview.Query, error) {
	q := topview.DefaultQuery()
	for name, vals := range v {
		switch name {
		case "sort", "group", "n", "filter":
		default:
			return q, &paramError{name, fmt.Sprintf("unknown parameter %q: want sort, group, n or filter", name)}
		}
		if len(vals) > 1 {
			return q, &paramError{name, "given more than once"}
		}
	}
	var err error
	if s := v.Get("sort"); s != "" {
		if q.Sort, err = topview.ParseSort(s); err != nil {
			return q, &paramError{"sort", err.Error()}
		}
	}
	if g := v.Get("group"); g != "" {
		if q.Group, err = topview.ParseGroup(g); err != nil {
			return q, &paramError{"group", err.Error()}
		}
	}
	if n := v.Get("n"); n != "" {
		q.N, err = strconv.Atoi(n)
		if err != nil || q.N < 0 || q.N > MaxRows {
			return q, &paramError{"n", fmt.Sprintf("%q: want a whole number from 0 (the most, %d) to %d", n, MaxRows, MaxRows)}
		}
	}
	if f := v.Get("filter"); f != "" {
		if q.Filter, err = topview.ParseFilter(f); err != nil {
			return q, &paramError{"filter", strings.TrimPrefix(err.Error(), "filter: ")}
		}
	}
	return q, nil
}

func (s *Server) top(w http.ResponseWriter, r *http.Request) {
	v, err := parseRawQuery(r.URL.RawQuery)
	var q topview.Query
	if err == nil {
		q, err = ParseQuery(v)
	}
	if err != nil {
		var pe *paramError
		errors.As(err, &pe)
		writeError(w, http.StatusBadRequest, pe.param, err.Error())
		return
	}
	if q.Group != "" && q.Group != topview.GroupFlow {
		select {
		case s.groups <- struct{}{}:
			defer func() { <-s.groups }()
		default:
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "group",
				fmt.Sprintf("%d grouped view is being built already: try again in a second (group=5tuple is not limited so)", MaxGrouped))
			return
		}
	}
	var res topview.Result
	var sweeps uint64
	s.p.View(func(snap *rates.Snapshot) {
		sweeps = snap.Sweeps
		res = topview.Build(snap, q)
	})
	if n, ok := s.p.(SessionNamer); ok {
		for i := range res.Rows {
			if v := res.Rows[i].VNI; v != nil {
				res.Rows[i].Session = n.SessionName(*v)
			}
		}
	}
	res.Iface, res.Source = s.iface, "daemon"
	if sweeps == 0 {
		res.Note = "waiting for the daemon's first sweep"
	}
	res.Header.Datapath = s.meter.Datapath()
	writeTop(w, &res)
}

// writeTop streams a view: the header, then each row as it is encoded,
// through a small buffer, so an answer of MaxRows rows never sits whole
// in memory as JSON.
func writeTop(w http.ResponseWriter, res *topview.Result) {
	rows := res.Rows
	res.Rows = []topview.Row{}
	head, err := json.Marshal(res)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.Write(head[:len(head)-2]) // up to "rows":[ ; the rows and "]}" follow
	enc := json.NewEncoder(bw)
	for i := range rows {
		if i > 0 {
			bw.WriteByte(',')
		}
		if err := enc.Encode(&rows[i]); err != nil {
			return // the client went away: nothing more to tell it
		}
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "", "/v1/status takes no parameters")
		return
	}
	writeJSON(w, http.StatusOK, s.p.Status())
}

// Counter is one named data path counter.
type Counter struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Counters is GET /v1/counters: every counter, and their sums.
type Counters struct {
	Reasons  []Counter         `json:"reasons"` // terminal reasons, in the data path's order
	Flags    []Counter         `json:"flags"`
	Datapath *topview.Datapath `json:"datapath,omitempty"`
}

func (s *Server) counters(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		writeError(w, http.StatusBadRequest, "", "/v1/counters takes no parameters")
		return
	}
	reasons, flags, err := s.p.Counters()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "read data path counters: "+err.Error())
		return
	}
	conv := func(cs []flow.Counter) []Counter {
		out := make([]Counter, len(cs))
		for i, c := range cs {
			out[i] = Counter{Name: c.Name, Packets: c.Packets, Bytes: c.Bytes}
		}
		return out
	}
	writeJSON(w, http.StatusOK, Counters{Reasons: conv(reasons), Flags: conv(flags), Datapath: s.meter.Datapath()})
}
