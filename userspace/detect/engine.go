package detect

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/userspace/flow"
)

// SessionInfo is what the engine knows of a mirror session: it names the
// resource in findings and tells the instance's side of a flow.
type SessionInfo struct {
	Name  string       // session name or id
	ENI   string       // source NetworkInterfaceId
	VpcID string       // optional, for the response's attachment lookup
	Addrs []netip.Addr // the ENI's addresses; none = the copies' outer source
}

// Sessions maps a VNI to its session.
type Sessions map[uint32]SessionInfo

// Sink receives findings when they are new, and again when updated (at
// most once per UpdateInterval). Send must never block: sinks queue and
// count what they drop.
type Sink interface {
	Name() string
	Send(f Finding)
	Close() error
}

// Engine runs every detector over the flow starts, flow records and DNS
// queries it is fed, and raises deduplicated findings to its store and
// sinks. Its methods are safe to call from several goroutines.
type Engine struct {
	mu        sync.Mutex
	reloadMu  sync.Mutex // one list reload at a time, kernel trie and lists swapped together
	closeOnce sync.Once
	stop      func()       // ends the list watcher
	open      atomic.Int32 // pipeline sinks not yet closed
	cfg       *Config
	lists     *lists
	sessions  Sessions
	// kernel is the data path's threat trie once UseKernelThreats handed
	// it over: then the kernel checks every accounted copy and the
	// userspace threat check stands down (overflow records aside).
	kernel flow.ThreatTable

	scratch obs // the observation being looked at (under mu)

	scans  *table[hostKey, scanState]
	brutes *table[hostKey, bruteState]
	floods *table[floodKey, floodState]
	vols   *table[hostKey, volState]
	exfils *table[hostKey, exfilState]

	store   *Store
	sinks   []Sink
	metrics *Metrics
	// Now is the wall clock of createdAt/updatedAt (tests set it).
	Now func() time.Time
}

// hostKey is one host of one session.
type hostKey struct {
	vni  uint32
	addr netip.Addr
}

// New builds an engine; the lists named in cfg are read now, and an
// unreadable or malformed list is an error.
func New(cfg *Config, sessions Sessions, sinks ...Sink) (*Engine, error) {
	return NewWithMetrics(cfg, sessions, NewMetrics(), sinks...)
}

// NewWithMetrics is New with the collector the sinks already count in.
func NewWithMetrics(cfg *Config, sessions Sessions, m *Metrics, sinks ...Sink) (*Engine, error) {
	l, err := loadLists(cfg)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, lists: l, sessions: sessions, sinks: sinks, store: NewStore(cfg.MaxFindings),
		metrics: m, Now: time.Now}
	e.scans = newTable[hostKey, scanState](cfg.MaxSources)
	e.brutes = newTable[hostKey, bruteState](cfg.MaxSources)
	e.vols = newTable[hostKey, volState](cfg.MaxSources)
	e.exfils = newTable[hostKey, exfilState](cfg.MaxSources)
	e.floods = newTable[floodKey, floodState](cfg.MaxDestinations)
	e.metrics.engine = e
	return e, nil
}

// Store is where findings are kept (the API reads it).
func (e *Engine) Store() *Store { return e.store }

// Metrics is the engine's Prometheus collector.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Reload swaps in a new configuration and sessions; the lists are read
// first, and on any error the running configuration stays.
func (e *Engine) Reload(cfg *Config, sessions Sessions) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	l, err := loadLists(cfg)
	if err == nil {
		err = e.pushThreats(l)
	}
	if err != nil {
		e.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg, e.lists = cfg, l
	if sessions != nil {
		e.sessions = sessions
	}
	for _, t := range []interface{ setLimit(int) }{e.scans, e.brutes, e.vols, e.exfils} {
		t.setLimit(cfg.MaxSources)
	}
	e.floods.setLimit(cfg.MaxDestinations)
	e.metrics.reloads.WithLabelValues("ok").Inc()
	return nil
}

// reloadLists re-reads the list files (they changed on disk).
func (e *Engine) reloadLists() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	e.mu.Lock()
	cfg := e.cfg
	e.mu.Unlock()
	l, err := loadLists(cfg)
	if err == nil {
		err = e.pushThreats(l)
	}
	if err != nil {
		e.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	e.mu.Lock()
	if e.cfg == cfg {
		e.lists = l
	}
	e.mu.Unlock()
	e.metrics.reloads.WithLabelValues("ok").Inc()
	return nil
}

// Config is the running configuration.
func (e *Engine) Config() *Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// obs is one flow observation, from a flow start or a flow record, with
// the instance's side worked out.
type obs struct {
	vni      uint32
	mirror   netip.Addr
	sess     SessionInfo
	key      flow.Key
	flags    uint8
	packets  uint64
	bytes    uint64
	first    time.Time
	last     time.Time
	dir      flow.Direction
	start    bool   // a flow-start event (else a record)
	end      string // record end reason
	instance netip.Addr
	remote   netip.Addr
}

// direction finds the instance's side: the session's ENI addresses,
// else the outer source of the copy (the ENI's primary address).
func direction(s SessionInfo, mirror, src, dst netip.Addr) flow.Direction {
	if len(s.Addrs) > 0 {
		switch {
		case slices.Contains(s.Addrs, src):
			return flow.DirEgress
		case slices.Contains(s.Addrs, dst):
			return flow.DirIngress
		}
		return flow.DirUnknown
	}
	switch {
	case mirror.IsValid() && src == mirror:
		return flow.DirEgress
	case mirror.IsValid() && dst == mirror:
		return flow.DirIngress
	}
	return flow.DirUnknown
}

func (o *obs) sides() {
	switch o.dir {
	case flow.DirEgress:
		o.instance, o.remote = o.key.Src, o.key.Dst
	case flow.DirIngress:
		o.instance, o.remote = o.key.Dst, o.key.Src
	}
}

// WriteEvents feeds flow starts and the kernel's threat hits (flow ends
// carry nothing the detectors need: records follow).
func (e *Engine) WriteEvents(evs []flow.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case flow.FlowStart:
			e.metrics.inStart.Inc()
		case flow.ThreatHit:
			e.metrics.inThreat.Inc()
		default:
			continue
		}
		o := &e.scratch // under e.mu; no allocation per event
		*o = obs{vni: ev.Key.VNI, mirror: ev.MirrorSource, sess: e.sessions[ev.Key.VNI], key: ev.Key,
			flags: ev.TCPFlags, packets: 1, first: ev.Time, last: ev.Time, start: ev.Type == flow.FlowStart || ev.Threat.First}
		o.dir = direction(o.sess, o.mirror, o.key.Src, o.key.Dst)
		o.sides()
		if ev.Type == flow.ThreatHit {
			e.kernelThreat(o, ev.Threat)
			continue
		}
		e.onStart(o)
	}
}

// WriteRecords feeds flow records.
func (e *Engine) WriteRecords(recs []flow.Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		e.metrics.inRecord.Inc()
		o := &e.scratch
		*o = obs{vni: r.VNI, mirror: r.MirrorSource, sess: e.sessions[r.VNI], key: r.Key(), flags: r.TCPFlags,
			packets: r.Packets, bytes: r.Bytes, first: r.First, last: r.Last, dir: r.Direction, end: r.EndReason}
		if r.Session != "" && o.sess.Name == "" {
			o.sess.Name = r.Session
		}
		if r.ENI != "" && o.sess.ENI == "" {
			o.sess.ENI = r.ENI
		}
		if o.dir == flow.DirUnknown {
			o.dir = direction(o.sess, o.mirror, o.key.Src, o.key.Dst)
		}
		o.sides()
		e.onRecord(o)
	}
}

// WriteDNS feeds DNS queries.
func (e *Engine) WriteDNS(qs []DNSQuery) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range qs {
		e.metrics.inDNS.Inc()
		e.onDNS(&qs[i])
	}
}

// WriteSamples parses sampled inner frames for DNS queries and feeds
// them; every frame is counted under its parse outcome.
func (e *Engine) WriteSamples(ss []flow.Sample) {
	var qs []DNSQuery
	for _, s := range ss {
		got, why := ParseSample(s)
		e.metrics.dnsParse.WithLabelValues(why).Inc()
		qs = append(qs, got...)
	}
	if len(qs) > 0 {
		e.WriteDNS(qs)
	}
}

func (e *Engine) onStart(o *obs) {
	e.threat(o)
	e.mining(o)
	e.scan(o)
	e.synFlood(o)
}

func (e *Engine) onRecord(o *obs) {
	e.threat(o)
	e.brute(o)
	e.udpFlood(o)
	e.completed(o)
	e.volume(o)
}

// detection is what a detector raises; raise turns it into a finding.
type detection struct {
	typ        string
	role       Role
	o          *obs // session fields; may be a DNS query's stand-in
	local      netip.Addr
	remote     netip.Addr
	localPort  uint16
	remotePort uint16
	proto      uint8
	direction  string // INBOUND, OUTBOUND, UNKNOWN
	probePorts []uint16
	domain     string // DNS findings: the name (dedup on dedupDomain)
	dedupDom   string
	first      time.Time
	last       time.Time
	sev        float64 // 0: the configured or catalogue value
	detector   string
	evidence   Evidence
}

// raise applies the switches, suppressions and severity, and files the
// finding; sinks hear of it when it is new (or a due update).
func (e *Engine) raise(d detection) {
	cfg := e.cfg
	if cfg.Disabled[d.typ] {
		return
	}
	for i := range cfg.Suppress {
		if cfg.Suppress[i].matches(d.typ, d.o.vni, d.o.sess.Name, d.local, d.remote) {
			e.metrics.suppressed.WithLabelValues(d.typ).Inc()
			return
		}
	}
	sev := d.sev
	if sev == 0 {
		sev = defaultSeverity(d.typ, d.role)
	}
	if v, ok := cfg.Severity[d.typ]; ok {
		sev = v
	}
	if v, ok := cfg.Severity[d.typ+"/"+string(d.role)]; ok {
		sev = v
	}
	now := e.Now().UTC()
	f := e.finding(d, sev, now)
	k := dedupKey{typ: d.typ, vni: d.o.vni, role: d.role, local: d.local, remote: d.remote, domain: d.dedupDom}
	out, created, notify := e.store.upsert(k, f, cfg.UpdateInterval)
	if created {
		e.metrics.created.WithLabelValues(d.typ, SeverityLabel(out.Severity)).Inc()
		log.Info().Str("type", d.typ).Float64("severity", out.Severity).Str("role", string(d.role)).
			Str("local", addrOrDash(d.local)).Str("remote", addrOrDash(d.remote)).Uint32("vni", d.o.vni).Msg("finding")
	} else {
		e.metrics.updated.WithLabelValues(d.typ).Inc()
	}
	if notify {
		for _, s := range e.sinks {
			s.Send(out)
		}
	}
}

// finding shapes a detection as GuardDuty's finding detail.
func (e *Engine) finding(d detection, sev float64, now time.Time) Finding {
	cfg := e.cfg
	ni := NetworkInterface{NetworkInterfaceID: d.o.sess.ENI, VpcID: d.o.sess.VpcID}
	if d.local.IsValid() {
		ni.PrivateIPAddress = d.local.Unmap().String()
	}
	inst := d.o.sess.ENI
	if cfg.Instance != "" {
		inst = cfg.Instance
	}
	if inst == "" && d.local.IsValid() {
		inst = d.local.Unmap().String()
	}
	if inst == "" {
		inst = "the instance"
	}
	remote := "multiple hosts"
	switch {
	case d.domain != "":
		remote = d.domain
	case d.remote.IsValid():
		remote = d.remote.Unmap().String()
	}
	f := Finding{
		SchemaVersion: "2.0", AccountID: cfg.Account, Region: cfg.Region, Partition: cfg.Partition,
		Type: d.typ, Severity: sev, Title: title(d.typ, inst, remote), Description: descriptions[d.typ],
		CreatedAt: now, UpdatedAt: now,
		Resource: Resource{ResourceType: "Instance", InstanceDetails: InstanceDetails{InstanceID: cfg.Instance,
			NetworkInterfaces: []NetworkInterface{ni}}},
		Service: Service{ServiceName: "vxtap", Count: 1, EventFirstSeen: d.first.UTC(), EventLastSeen: d.last.UTC(), ResourceRole: d.role},
		Vxtap:   Vxtap{VNI: d.o.vni, Session: d.o.sess.Name, MirrorSource: d.o.mirror, Detector: d.detector, Evidence: d.evidence},
	}
	switch {
	case d.probePorts != nil:
		pa := &PortProbeAction{PortProbeDetails: []PortProbeDetail{}}
		for _, p := range d.probePorts {
			pa.PortProbeDetails = append(pa.PortProbeDetails, PortProbeDetail{LocalPortDetails: portDetails(p),
				LocalIPDetails: ipDetails(d.local), RemoteIPDetails: ipDetails(d.remote)})
		}
		f.Service.Action = Action{ActionType: ActionPortProbe, PortProbeAction: pa}
	case d.domain != "":
		f.Service.Action = Action{ActionType: ActionDNSRequest, DNSRequestAction: &DNSRequestAction{Domain: d.domain, Protocol: "UDP"}}
	default:
		nc := &NetworkConnectionAction{ConnectionDirection: d.direction, LocalIPDetails: ipDetails(d.local),
			RemoteIPDetails: ipDetails(d.remote), Protocol: protoName(d.proto)}
		if d.localPort != 0 {
			nc.LocalPortDetails = portDetails(d.localPort)
		}
		if d.remotePort != 0 {
			nc.RemotePortDetails = portDetails(d.remotePort)
		}
		f.Service.Action = Action{ActionType: ActionNetworkConnection, NetworkConnectionAction: nc}
	}
	return f
}

// connDirection words a flow direction as GuardDuty does.
func connDirection(d flow.Direction) string {
	switch d {
	case flow.DirEgress:
		return Outbound
	case flow.DirIngress:
		return Inbound
	}
	return Unknown
}

func roleOf(d flow.Direction) Role {
	if d == flow.DirIngress {
		return Target
	}
	return Actor
}

func ref(k flow.Key) FlowRef {
	return FlowRef{Src: k.Src, Dst: k.Dst, Proto: k.Proto, SPort: k.SPort, DPort: k.DPort}
}

// window restarts a tumbling window when t has left it; it reports
// whether a new window began.
func window(start *int64, t time.Time, w time.Duration) bool {
	n := t.UnixNano()
	if *start == 0 || n-*start >= int64(w) || n < *start-int64(w) {
		*start = n
		return true
	}
	return false
}

func addrOrDash(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}
