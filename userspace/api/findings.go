package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vxtap/vxtap/userspace/detect"
)

// FindingsSource is the daemon's findings store (*detect.Store).
type FindingsSource interface {
	List(q detect.Query) ([]detect.Finding, uint64)
}

// SetFindings serves GET /v1/findings from src; without it the endpoint
// answers 503 (detection is off). Call before Serve.
func (s *Server) SetFindings(src FindingsSource) { s.findingsSrc = src }

// Findings is GET /v1/findings: findings changed after the sequence
// asked for (all with none), least recently changed first, and the
// sequence to ask for next (`vxtap findings --follow` polls with it).
type Findings struct {
	Findings []detect.Finding `json:"findings"`
	Seq      uint64           `json:"seq"`
}

// parseFindingsQuery reads after=N, type=TYPE, min_severity=X; unknown
// and repeated parameters are errors.
func parseFindingsQuery(v url.Values) (detect.Query, error) {
	var q detect.Query
	for name, vals := range v {
		switch name {
		case "after", "type", "min_severity":
		default:
			return q, &paramError{name, "unknown parameter " + strconv.Quote(name) + ": want after, type or min_severity"}
		}
		if len(vals) > 1 {
			return q, &paramError{name, "given more than once"}
		}
	}
	var err error
	if a := v.Get("after"); a != "" {
		if q.After, err = strconv.ParseUint(a, 10, 64); err != nil {
			return q, &paramError{"after", strconv.Quote(a) + ": want the seq of a previous answer"}
		}
	}
	if m := v.Get("min_severity"); m != "" {
		if q.MinSeverity, err = strconv.ParseFloat(m, 64); err != nil || q.MinSeverity < 0 || q.MinSeverity > 10 {
			return q, &paramError{"min_severity", strconv.Quote(m) + ": want a number from 0 to 10"}
		}
	}
	q.Type = v.Get("type")
	return q, nil
}

func (s *Server) findings(w http.ResponseWriter, r *http.Request) {
	if s.findingsSrc == nil {
		writeError(w, http.StatusServiceUnavailable, "", "detection is off on this daemon (run it with --detect)")
		return
	}
	q, err := parseFindingsQuery(r.URL.Query())
	if err != nil {
		pe := err.(*paramError)
		writeError(w, http.StatusBadRequest, pe.param, err.Error())
		return
	}
	fs, seq := s.findingsSrc.List(q)
	if fs == nil {
		fs = []detect.Finding{}
	}
	writeJSON(w, http.StatusOK, Findings{Findings: fs, Seq: seq})
}

// Findings fetches the findings changed after q.After.
func (c *Client) Findings(ctx context.Context, q detect.Query) (*Findings, error) {
	v := url.Values{}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if q.Type != "" {
		v.Set("type", q.Type)
	}
	if q.MinSeverity > 0 {
		v.Set("min_severity", strconv.FormatFloat(q.MinSeverity, 'g', -1, 64))
	}
	var out Findings
	if err := c.get(ctx, "/v1/findings", v, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
