// Package enrich gives every flow record its mirror session's context
// before any output sees it: the session's name and its source ENI, from
// the filter configuration (vxtap's YAML or the AWS CLI documents). The
// table is replaced whole on each reload (SIGHUP), so a record is enriched
// wholly by the old or wholly by the new configuration.
package enrich

import (
	"strconv"
	"sync/atomic"

	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/flow"
)

// NoSession is the session of a record whose VNI has no configured
// session (or when no configuration is given): "-", as log formats write
// a missing value. Session names cannot be "-" (filter rejects it).
const NoSession = "-"

// Session is what a record learns from its VNI's session.
type Session struct {
	Name   string // TrafficMirrorSessionId or the YAML name; "vni-N" when the YAML gives none
	ENI    string // source NetworkInterfaceId, "" when not configured
	Filter string // TrafficMirrorFilterId, "" without a filter
	Number int    // AWS SessionNumber, 0 when not known
}

// Sessions maps VNIs to sessions. The zero value knows no session.
type Sessions struct {
	m atomic.Pointer[map[uint32]Session]
}

// FromConfig builds the VNI table of a filter configuration.
func FromConfig(cfg *filter.Config) map[uint32]Session {
	m := make(map[uint32]Session, len(cfg.Sessions))
	for _, s := range cfg.Sessions {
		name := s.Name
		if name == "" {
			name = "vni-" + strconv.FormatUint(uint64(s.VNI), 10)
		}
		m[s.VNI] = Session{Name: name, ENI: s.ENI, Filter: s.Filter, Number: s.SessionNumber}
	}
	return m
}

// Set replaces the table (at start and on every reload).
func (s *Sessions) Set(m map[uint32]Session) { s.m.Store(&m) }

// Lookup returns the session of vni.
func (s *Sessions) Lookup(vni uint32) (Session, bool) {
	m := s.m.Load()
	if m == nil {
		return Session{}, false
	}
	v, ok := (*m)[vni]
	return v, ok
}

// Name is the session name of vni, NoSession when it has none.
func (s *Sessions) Name(vni uint32) string {
	if v, ok := s.Lookup(vni); ok {
		return v.Name
	}
	return NoSession
}

// Enrich implements pipeline.Enricher: session and ENI from the VNI. The
// rule number, direction and truncation come from the data path itself.
func (s *Sessions) Enrich(r *flow.Record) {
	v, ok := s.Lookup(r.VNI)
	if !ok {
		r.Session, r.ENI = NoSession, ""
		return
	}
	r.Session, r.ENI = v.Name, v.ENI
}
