package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/livecap"
)

// CapturePath is the streaming endpoint of `vxtap capture`.
const CapturePath = "/v1/capture"

// captureQueue bounds the ring-buffer drains held for one slow client.
const captureQueue = 256

// SetCaptures serves GET /v1/capture from hub; sessions names the VNIs
// (the daemon's configuration). Without it the endpoint answers 503.
// Call before Serve.
func (s *Server) SetCaptures(hub *livecap.Hub, sessions func() map[uint32]string) {
	s.capHub, s.capSessions = hub, sessions
}

// CaptureQuery is /v1/capture's parameters.
type CaptureQuery struct {
	Filter  string
	SnapLen uint32 // 0: the most the data path copies
	Count   uint64 // 0: until the client goes away
}

// Values encodes the query.
func (q CaptureQuery) Values() url.Values {
	v := url.Values{}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	if q.SnapLen > 0 {
		v.Set("snaplen", strconv.FormatUint(uint64(q.SnapLen), 10))
	}
	if q.Count > 0 {
		v.Set("count", strconv.FormatUint(q.Count, 10))
	}
	return v
}

func parseCaptureQuery(v url.Values) (CaptureQuery, error) {
	var q CaptureQuery
	for name, vals := range v {
		switch name {
		case "filter", "snaplen", "count":
		default:
			return q, &paramError{name, fmt.Sprintf("unknown parameter %q: want filter, snaplen or count", name)}
		}
		if len(vals) > 1 {
			return q, &paramError{name, "given more than once"}
		}
	}
	q.Filter = v.Get("filter")
	if sl := v.Get("snaplen"); sl != "" {
		n, err := strconv.ParseUint(sl, 10, 32)
		if err != nil || n > livecap.MaxSnapLen {
			return q, &paramError{"snaplen", fmt.Sprintf("%q: want 0 (the most) to %d bytes", sl, livecap.MaxSnapLen)}
		}
		q.SnapLen = uint32(n)
	}
	if c := v.Get("count"); c != "" {
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return q, &paramError{"count", fmt.Sprintf("%q: want a whole number of packets, 0 for no limit", c)}
		}
		q.Count = n
	}
	if q.SnapLen == 0 {
		q.SnapLen = livecap.MaxSnapLen
	}
	return q, nil
}

// capture streams one live capture (livecap's framing) until the count
// is reached, the client goes away or the daemon stops; the data path's
// slot is cleared in every case.
func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	if s.capHub == nil {
		writeError(w, http.StatusServiceUnavailable, "", "live captures are off on this daemon")
		return
	}
	names := map[uint32]string{}
	if s.capSessions != nil {
		names = s.capSessions()
	}
	q, err := parseCaptureQuery(r.URL.Query())
	if err != nil {
		pe := err.(*paramError)
		writeError(w, http.StatusBadRequest, pe.param, err.Error())
		return
	}
	byName := livecap.Sessions{}
	for vni, n := range names {
		byName[n] = vni
	}
	f, err := livecap.ParseFilter(q.Filter, byName)
	if err != nil {
		writeError(w, http.StatusBadRequest, "filter", err.Error())
		return
	}
	sub, err := s.capHub.Start(livecap.Spec{Terms: f.Terms(), SnapLen: q.SnapLen, Limit: q.Count}, captureQueue)
	if errors.Is(err, livecap.ErrBusy) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "start capture: "+err.Error())
		return
	}
	stopped := false
	stop := func() livecap.Counters {
		c, err := s.capHub.Stop(sub)
		if err != nil && !stopped {
			logCapture(err)
		}
		stopped = true
		return c
	}
	defer stop()

	// A capture lasts as long as the client wants: no server deadline.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/vnd.vxtap.capture")
	w.WriteHeader(http.StatusOK)
	sw := livecap.NewWriter(w)
	sw.JSON(livecap.FrameHeader, livecap.Header{Iface: s.iface, Filter: f.String(), SnapLen: q.SnapLen, Count: q.Count, Slot: sub.Slot, Sessions: names})
	if sw.Flush() != nil || rc.Flush() != nil {
		return
	}
	reason, werr := s.streamCapture(r.Context(), sub, sw, rc)
	if werr != nil {
		return // the client went away: nobody to tell
	}
	end := livecap.End{Reason: reason, Counters: stop(), Delivered: sub.Delivered(), Dropped: sub.Dropped()}
	sw.JSON(livecap.FrameEnd, end)
	if sw.Flush() == nil {
		rc.Flush()
	}
}

// streamCapture writes the capture's copies as they come; it returns why
// it ended, or the write error that ended it.
func (s *Server) streamCapture(ctx context.Context, sub *livecap.Sub, sw *livecap.Writer, rc *http.ResponseController) (string, error) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var written uint64
	write := func(batch []flow.Sample) error {
		for _, p := range batch {
			if sub.Spec.Limit > 0 && written >= sub.Spec.Limit {
				return nil
			}
			if err := sw.Packet(p); err != nil {
				return err
			}
			written++
		}
		return nil
	}
	flush := func() error {
		if err := sw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	// drain writes whatever is queued without waiting.
	drain := func() error {
		for {
			select {
			case b := <-sub.C:
				if err := write(b); err != nil {
					return err
				}
			default:
				return flush()
			}
		}
	}
	for {
		select {
		case b := <-sub.C:
			if err := write(b); err != nil {
				return "", err
			}
			if err := drain(); err != nil {
				return "", err
			}
		case <-sub.Done:
			return "count reached", drain()
		case <-ctx.Done():
			return "client stopped", drain()
		case <-s.stop:
			return "daemon stopping", drain()
		case <-tick.C:
			// -c with copies lost on the way (ring buffer full, queue
			// full): the data path sent all it will, so stop here.
			if sub.Spec.Limit == 0 {
				continue
			}
			c, err := s.capHub.Counters(sub)
			if err == nil && c.Sent+c.Lost >= sub.Spec.Limit && sub.Delivered()+sub.Dropped() >= c.Sent {
				return "count reached (some copies lost)", drain()
			}
		}
	}
}

// CaptureStream is a running capture on its own connection.
type CaptureStream struct {
	conn *net.UnixConn
	Body io.Reader // the framed stream (livecap.NewReader)
}

// Stop asks the daemon to end the capture: it half-closes the
// connection, so the daemon still sends the end frame with its counters.
func (s *CaptureStream) Stop() error { return s.conn.CloseWrite() }

// Close drops the connection; the daemon frees the capture's slot.
func (s *CaptureStream) Close() error { return s.conn.Close() }

// Capture starts a live capture on a connection of its own (so Stop can
// half-close it).
func (c *Client) Capture(ctx context.Context, q CaptureQuery) (*CaptureStream, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, c.dialError(err)
	}
	conn := nc.(*net.UnixConn)
	u := url.URL{Scheme: "http", Host: "vxtap", Path: CapturePath, RawQuery: q.Values().Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "closed the connection: the daemon stopped"}
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "closed the connection: the daemon stopped"}
	}
	if resp.StatusCode != http.StatusOK {
		defer conn.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb errorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s from %s", resp.Status, CapturePath)
		}
		if resp.StatusCode == http.StatusForbidden {
			return nil, &PermissionError{Path: c.path, Detail: "the daemon refused: " + eb.Error}
		}
		return nil, &RequestError{Code: resp.StatusCode, Message: eb.Error, Parameter: eb.Parameter}
	}
	return &CaptureStream{conn: conn, Body: resp.Body}, nil
}

// logCapture logs a failure to clear a capture slot.
func logCapture(err error) { log.Error().Err(err).Msg("api: stop capture") }
