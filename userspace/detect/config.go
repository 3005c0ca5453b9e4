package detect

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the `detect:` section of vxtap's YAML configuration: the
// thresholds and windows of every detector, lists, suppressions, severity
// overrides and the response sinks. Zero values never reach detectors:
// Default fills them and parsing refuses values out of range.
type Config struct {
	Account   string // EventBridge account and finding accountId
	Region    string
	Partition string
	Instance  string // instanceId put in findings, when one appliance watches one instance

	Severity map[string]float64 // "TYPE" or "TYPE/ACTOR|TARGET" -> 1.0..10.0
	Disabled map[string]bool    // finding types turned off
	Suppress []Suppression      // known scanners and the like: never raised

	ThreatLists  []string      // files of addresses and CIDRs (UnauthorizedAccess:EC2/MaliciousIPCaller.Custom)
	ListInterval time.Duration // how often list files are checked for changes

	Portscan  ScanConfig
	PortProbe ScanConfig
	Brute     BruteConfig
	DoS       DoSConfig
	Mining    MiningConfig
	Exfil     ExfilConfig
	Volume    VolumeConfig

	MaxSources      int           // per-source states kept (bounded table)
	MaxDestinations int           // per-destination states kept
	MaxFindings     int           // findings kept for deduplication and the API
	UpdateInterval  time.Duration // a finding updated again is re-sent to sinks at most this often

	Webhook WebhookConfig
	Exec    ExecConfig
}

// ScanConfig: a source touching Ports distinct ports, or Hosts distinct
// hosts, within Window.
type ScanConfig struct {
	Window time.Duration
	Ports  int
	Hosts  int
}

// BruteConfig: Connections short TCP connections from one source to the
// SSH or RDP port within Window; short = at most MaxPackets packets one
// way and at most MaxDuration long.
type BruteConfig struct {
	Window      time.Duration
	Connections int
	MaxPackets  int
	MaxDuration time.Duration
	SSHPort     uint16
	RDPPort     uint16
}

// DoSConfig: towards one destination within Window, SYN flow starts
// (SYN without ACK) of which at most CompletedRatio completed, or UDP
// packets.
type DoSConfig struct {
	Window         time.Duration
	SYN            int
	CompletedRatio float64
	UDPPackets     uint64
}

// MiningConfig lists what mining looks like: pool addresses, Stratum
// ports, mining domains.
type MiningConfig struct {
	Ports       []uint16
	Pools       []netip.Prefix
	PoolLists   []string
	Domains     []string
	DomainLists []string
}

// ExfilConfig: Queries DNS queries from one source within Window whose
// longest label has at least MinLabel characters and MinEntropy bits of
// Shannon entropy per character.
type ExfilConfig struct {
	Window     time.Duration
	Queries    int
	MinLabel   int
	MinEntropy float64
}

// VolumeConfig: a source sending more than Factor times its own average
// bytes per Bucket (an exponentially weighted mean over past buckets,
// after Warmup buckets) and at least MinBytes.
type VolumeConfig struct {
	Bucket   time.Duration
	Factor   float64
	MinBytes uint64
	Warmup   int
}

// WebhookConfig is the webhook sink; URL "" turns it off.
type WebhookConfig struct {
	URL         string
	Queue       int
	Timeout     time.Duration
	MaxAttempts int
	Backoff     time.Duration // first retry delay; doubles up to MaxBackoff
	MaxBackoff  time.Duration
}

// ExecConfig is the exec hook; no Command turns it off.
type ExecConfig struct {
	Command   []string
	Timeout   time.Duration
	PerMinute int
	Queue     int
}

// Default is the configuration with no `detect:` keys given.
func Default() *Config {
	return &Config{
		Partition:       "aws",
		Severity:        map[string]float64{},
		Disabled:        map[string]bool{},
		ListInterval:    2 * time.Second,
		Portscan:        ScanConfig{Window: time.Minute, Ports: 100, Hosts: 100},
		PortProbe:       ScanConfig{Window: time.Minute, Ports: 50},
		Brute:           BruteConfig{Window: 5 * time.Minute, Connections: 20, MaxPackets: 60, MaxDuration: 30 * time.Second, SSHPort: 22, RDPPort: 3389},
		DoS:             DoSConfig{Window: 10 * time.Second, SYN: 2000, CompletedRatio: 0.1, UDPPackets: 200000},
		Mining:          MiningConfig{Ports: []uint16{3333, 4444, 5555, 7777, 14433, 14444, 45560, 45700}},
		Exfil:           ExfilConfig{Window: time.Minute, Queries: 30, MinLabel: 30, MinEntropy: 3.5},
		Volume:          VolumeConfig{Bucket: time.Minute, Factor: 10, MinBytes: 100 << 20, Warmup: 5},
		MaxSources:      1 << 16,
		MaxDestinations: 1 << 16,
		MaxFindings:     10000,
		UpdateInterval:  15 * time.Minute,
		Webhook:         WebhookConfig{Queue: 1024, Timeout: 5 * time.Second, MaxAttempts: 6, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second},
		Exec:            ExecConfig{Timeout: 10 * time.Second, PerMinute: 30, Queue: 256},
	}
}

// Suppression silences findings matching every field it sets: a known
// scanner (Remote), a vulnerability scanner inside (Local), one type.
type Suppression struct {
	Type    string
	VNI     uint32
	HasVNI  bool
	Session string
	Local   netip.Prefix
	Remote  netip.Prefix
	Pos     string // file:line, for messages
}

// matches reports whether s silences a finding with these fields.
func (s *Suppression) matches(typ string, vni uint32, session string, local, remote netip.Addr) bool {
	if s.Type != "" && s.Type != typ {
		return false
	}
	if s.HasVNI && s.VNI != vni {
		return false
	}
	if s.Session != "" && s.Session != session {
		return false
	}
	if s.Local.IsValid() && !(local.IsValid() && s.Local.Contains(local.Unmap())) {
		return false
	}
	if s.Remote.IsValid() && !(remote.IsValid() && s.Remote.Contains(remote.Unmap())) {
		return false
	}
	return true
}

// ConfigError is one problem in the configuration, at file:line:col.
type ConfigError struct {
	File      string
	Line, Col int
	Path      string // detect.portscan.window
	Msg       string
}

func (e *ConfigError) Error() string {
	pos := e.File
	switch {
	case e.Line > 0 && e.Col > 0:
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	case e.Line > 0:
		pos = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Path == "" {
		return pos + ": " + e.Msg
	}
	return fmt.Sprintf("%s: %s: %s", pos, e.Path, e.Msg)
}

// LoadFile reads the `detect:` section of a vxtap YAML configuration.
// found is false when the file has no such section (detection then runs
// on Default). Every problem is reported, joined, and nothing is kept.
func LoadFile(path string) (cfg *Config, found bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	return Parse(path, data)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// Parse is LoadFile on bytes; name is used in messages and relative list
// paths are taken from its directory.
func Parse(name string, data []byte) (*Config, bool, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		ce := &ConfigError{File: name, Msg: "malformed YAML: " + err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			ce.Line, _ = strconv.Atoi(m[1])
			ce.Msg = "malformed YAML: " + m[2]
		}
		return nil, false, ce
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, false, nil
	}
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "detect" {
			r := &reader{file: name, dir: filepath.Dir(name)}
			cfg := Default()
			r.detect(top.Content[i+1], cfg)
			if len(r.errs) > 0 {
				return nil, true, errors.Join(r.errs...)
			}
			return cfg, true, nil
		}
	}
	return nil, false, nil
}

// reader walks YAML nodes, collecting errors with their positions.
type reader struct {
	file, dir string
	errs      []error
}

func (r *reader) errf(n *yaml.Node, path, format string, args ...any) {
	r.errs = append(r.errs, &ConfigError{File: r.file, Line: n.Line, Col: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fields calls fn for each key of a mapping; keys outside allowed and
// repeated keys are errors, so a typo is never silently ignored.
func (r *reader) fields(n *yaml.Node, path string, allowed []string, fn func(key string, v *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return
		}
		r.errf(n, path, "want a mapping of %s", strings.Join(allowed, ", "))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := path + "." + k.Value
		if line, dup := seen[k.Value]; dup {
			r.errf(k, p, "given twice (first at line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		if !ok {
			r.errf(k, p, "unknown key %q: want one of %s", k.Value, strings.Join(allowed, ", "))
			continue
		}
		fn(k.Value, v, p)
	}
}

func (r *reader) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		r.errf(n, path, "want %s", what)
		return "", false
	}
	return n.Value, true
}

func (r *reader) str(n *yaml.Node, path string, dst *string) {
	if s, ok := r.scalar(n, path, "a string"); ok {
		*dst = s
	}
}

func (r *reader) duration(n *yaml.Node, path string, dst *time.Duration) {
	s, ok := r.scalar(n, path, "a duration such as 30s or 5m")
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.errf(n, path, "%q: want a positive duration such as 30s or 5m", s)
		return
	}
	*dst = d
}

func (r *reader) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	s, ok := r.scalar(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil || v < lo || v > hi {
		r.errf(n, path, "%q: want a whole number from %d to %d", s, lo, hi)
		return 0, false
	}
	return v, true
}

func (r *reader) intv(n *yaml.Node, path string, dst *int, lo, hi int64) {
	if v, ok := r.integer(n, path, lo, hi); ok {
		*dst = int(v)
	}
}

func (r *reader) float(n *yaml.Node, path string, dst *float64, lo, hi float64) {
	s, ok := r.scalar(n, path, "a number")
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		r.errf(n, path, "%q: want a number from %g to %g", s, lo, hi)
		return
	}
	*dst = v
}

func (r *reader) port(n *yaml.Node, path string) (uint16, bool) {
	v, ok := r.integer(n, path, 1, 65535)
	return uint16(v), ok
}

// seq calls fn for each element of a sequence (a lone scalar counts as
// a sequence of one).
func (r *reader) seq(n *yaml.Node, path string, fn func(e *yaml.Node, p string)) {
	switch n.Kind {
	case yaml.SequenceNode:
		for i, e := range n.Content {
			fn(e, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			fn(n, path)
		}
	default:
		r.errf(n, path, "want a list")
	}
}

func (r *reader) strs(n *yaml.Node, path string, dst *[]string) {
	*dst = nil
	r.seq(n, path, func(e *yaml.Node, p string) {
		if s, ok := r.scalar(e, p, "a string"); ok && s != "" {
			*dst = append(*dst, s)
		}
	})
}

// files is a list of paths, relative ones taken from the config's directory.
func (r *reader) files(n *yaml.Node, path string, dst *[]string) {
	r.strs(n, path, dst)
	for i, f := range *dst {
		if !filepath.IsAbs(f) {
			(*dst)[i] = filepath.Join(r.dir, f)
		}
	}
}

// prefix reads an address (a host prefix) or a CIDR.
func (r *reader) prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := r.scalar(n, path, "an address or CIDR")
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := parsePrefix(s)
	if err != nil {
		r.errf(n, path, "%v", err)
		return netip.Prefix{}, false
	}
	return p, true
}

// parsePrefix reads "198.18.0.1", "2001:db8::/32" or "198.18.0.0/15";
// host bits set in a CIDR are an error (a typo more often than intent).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not a CIDR", s)
		}
		if p.Masked() != p {
			return p, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 or IPv6 address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

var detectKeys = []string{"account", "region", "partition", "instance", "severity", "disable", "suppress",
	"threat_lists", "list_interval", "portscan", "port_probe", "bruteforce", "dos", "mining", "dns_exfiltration",
	"volume", "limits", "update_interval", "webhook", "exec"}

// detect reads the section into cfg.
func (r *reader) detect(n *yaml.Node, cfg *Config) {
	r.fields(n, "detect", detectKeys, func(k string, v *yaml.Node, p string) {
		switch k {
		case "account":
			r.str(v, p, &cfg.Account)
			if cfg.Account != "" && !regexp.MustCompile(`^\d{12}$`).MatchString(cfg.Account) {
				r.errf(v, p, "%q: want a 12-digit AWS account id", cfg.Account)
			}
		case "region":
			r.str(v, p, &cfg.Region)
		case "partition":
			r.str(v, p, &cfg.Partition)
		case "instance":
			r.str(v, p, &cfg.Instance)
		case "severity":
			r.severities(v, p, cfg.Severity)
		case "disable":
			r.seq(v, p, func(e *yaml.Node, ep string) {
				if s, ok := r.scalar(e, ep, "a finding type"); ok && r.knownType(e, ep, s) {
					cfg.Disabled[s] = true
				}
			})
		case "suppress":
			r.seq(v, p, func(e *yaml.Node, ep string) { cfg.Suppress = append(cfg.Suppress, r.suppression(e, ep)) })
		case "threat_lists":
			r.files(v, p, &cfg.ThreatLists)
		case "list_interval":
			r.duration(v, p, &cfg.ListInterval)
		case "portscan":
			r.scan(v, p, &cfg.Portscan, true)
		case "port_probe":
			r.scan(v, p, &cfg.PortProbe, false)
		case "bruteforce":
			r.brute(v, p, &cfg.Brute)
		case "dos":
			r.dos(v, p, &cfg.DoS)
		case "mining":
			r.mining(v, p, &cfg.Mining)
		case "dns_exfiltration":
			r.exfil(v, p, &cfg.Exfil)
		case "volume":
			r.volume(v, p, &cfg.Volume)
		case "limits":
			r.fields(v, p, []string{"sources", "destinations", "findings"}, func(k string, v *yaml.Node, p string) {
				dst := map[string]*int{"sources": &cfg.MaxSources, "destinations": &cfg.MaxDestinations, "findings": &cfg.MaxFindings}[k]
				r.intv(v, p, dst, 1, 1<<26)
			})
		case "update_interval":
			r.duration(v, p, &cfg.UpdateInterval)
		case "webhook":
			r.webhook(v, p, &cfg.Webhook)
		case "exec":
			r.exec(v, p, &cfg.Exec)
		}
	})
}

func (r *reader) knownType(n *yaml.Node, path, typ string) bool {
	if _, ok := catalogue[typ]; !ok {
		r.errf(n, path, "unknown finding type %q: want one of %s", typ, strings.Join(Types(), ", "))
		return false
	}
	return true
}

// severities reads TYPE or TYPE/ROLE -> value on GuardDuty's 1.0..10.0 scale.
func (r *reader) severities(n *yaml.Node, path string, dst map[string]float64) {
	if n.Kind != yaml.MappingNode {
		r.errf(n, path, "want a mapping of finding type (or type/ACTOR, type/TARGET) to severity")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := path + "." + k.Value
		typ := k.Value
		if i := strings.LastIndex(typ, "/"); i >= 0 && (typ[i+1:] == string(Actor) || typ[i+1:] == string(Target)) {
			typ = typ[:i]
		}
		if !r.knownType(k, p, typ) {
			continue
		}
		var s float64
		r.float(v, p, &s, 1, 10)
		if s != 0 {
			dst[k.Value] = s
		}
	}
}

func (r *reader) suppression(n *yaml.Node, path string) Suppression {
	s := Suppression{Pos: fmt.Sprintf("%s:%d", r.file, n.Line)}
	r.fields(n, path, []string{"type", "vni", "session", "local", "remote", "source"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "type":
			if t, ok := r.scalar(v, p, "a finding type"); ok && r.knownType(v, p, t) {
				s.Type = t
			}
		case "vni":
			if x, ok := r.integer(v, p, 0, 1<<24-1); ok {
				s.VNI, s.HasVNI = uint32(x), true
			}
		case "session":
			r.str(v, p, &s.Session)
		case "local":
			s.Local, _ = r.prefix(v, p)
		case "remote", "source":
			s.Remote, _ = r.prefix(v, p)
		}
	})
	if s == (Suppression{Pos: s.Pos}) {
		r.errf(n, path, "a suppression with no field would silence every finding: give type, vni, session, local or remote")
	}
	return s
}

func (r *reader) scan(n *yaml.Node, path string, c *ScanConfig, hosts bool) {
	keys := []string{"window", "ports"}
	if hosts {
		keys = append(keys, "hosts")
	}
	r.fields(n, path, keys, func(k string, v *yaml.Node, p string) {
		switch k {
		case "window":
			r.duration(v, p, &c.Window)
		case "ports":
			r.intv(v, p, &c.Ports, 2, 65535)
		case "hosts":
			r.intv(v, p, &c.Hosts, 2, 1<<24)
		}
	})
}

func (r *reader) brute(n *yaml.Node, path string, c *BruteConfig) {
	r.fields(n, path, []string{"window", "connections", "max_packets", "max_duration", "ssh_port", "rdp_port"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "window":
			r.duration(v, p, &c.Window)
		case "connections":
			r.intv(v, p, &c.Connections, 2, 1<<20)
		case "max_packets":
			r.intv(v, p, &c.MaxPackets, 1, 1<<20)
		case "max_duration":
			r.duration(v, p, &c.MaxDuration)
		case "ssh_port":
			if x, ok := r.port(v, p); ok {
				c.SSHPort = x
			}
		case "rdp_port":
			if x, ok := r.port(v, p); ok {
				c.RDPPort = x
			}
		}
	})
}

func (r *reader) dos(n *yaml.Node, path string, c *DoSConfig) {
	r.fields(n, path, []string{"window", "syn", "completed_ratio", "udp_packets"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "window":
			r.duration(v, p, &c.Window)
		case "syn":
			r.intv(v, p, &c.SYN, 1, 1<<30)
		case "completed_ratio":
			r.float(v, p, &c.CompletedRatio, 0, 1)
		case "udp_packets":
			if x, ok := r.integer(v, p, 1, 1<<40); ok {
				c.UDPPackets = uint64(x)
			}
		}
	})
}

func (r *reader) mining(n *yaml.Node, path string, c *MiningConfig) {
	r.fields(n, path, []string{"ports", "pools", "pool_lists", "domains", "domain_lists"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "ports":
			c.Ports = nil
			r.seq(v, p, func(e *yaml.Node, ep string) {
				if x, ok := r.port(e, ep); ok {
					c.Ports = append(c.Ports, x)
				}
			})
		case "pools":
			r.seq(v, p, func(e *yaml.Node, ep string) {
				if x, ok := r.prefix(e, ep); ok {
					c.Pools = append(c.Pools, x)
				}
			})
		case "pool_lists":
			r.files(v, p, &c.PoolLists)
		case "domains":
			r.seq(v, p, func(e *yaml.Node, ep string) {
				if s, ok := r.scalar(e, ep, "a domain name"); ok {
					d, err := normDomain(s)
					if err != nil {
						r.errf(e, ep, "%v", err)
						return
					}
					c.Domains = append(c.Domains, d)
				}
			})
		case "domain_lists":
			r.files(v, p, &c.DomainLists)
		}
	})
}

func (r *reader) exfil(n *yaml.Node, path string, c *ExfilConfig) {
	r.fields(n, path, []string{"window", "queries", "min_label", "min_entropy"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "window":
			r.duration(v, p, &c.Window)
		case "queries":
			r.intv(v, p, &c.Queries, 1, 1<<20)
		case "min_label":
			r.intv(v, p, &c.MinLabel, 1, 63)
		case "min_entropy":
			r.float(v, p, &c.MinEntropy, 0, 6)
		}
	})
}

func (r *reader) volume(n *yaml.Node, path string, c *VolumeConfig) {
	r.fields(n, path, []string{"bucket", "factor", "min_bytes", "warmup"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "bucket":
			r.duration(v, p, &c.Bucket)
		case "factor":
			r.float(v, p, &c.Factor, 1.5, 1e6)
		case "min_bytes":
			if x, ok := r.integer(v, p, 1, 1<<50); ok {
				c.MinBytes = uint64(x)
			}
		case "warmup":
			r.intv(v, p, &c.Warmup, 1, 10000)
		}
	})
}

func (r *reader) webhook(n *yaml.Node, path string, c *WebhookConfig) {
	r.fields(n, path, []string{"url", "queue", "timeout", "max_attempts", "backoff", "max_backoff"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "url":
			r.str(v, p, &c.URL)
			if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
				r.errf(v, p, "%q: want an http:// or https:// URL", c.URL)
			}
		case "queue":
			r.intv(v, p, &c.Queue, 1, 1<<20)
		case "timeout":
			r.duration(v, p, &c.Timeout)
		case "max_attempts":
			r.intv(v, p, &c.MaxAttempts, 1, 100)
		case "backoff":
			r.duration(v, p, &c.Backoff)
		case "max_backoff":
			r.duration(v, p, &c.MaxBackoff)
		}
	})
}

func (r *reader) exec(n *yaml.Node, path string, c *ExecConfig) {
	r.fields(n, path, []string{"command", "timeout", "per_minute", "queue"}, func(k string, v *yaml.Node, p string) {
		switch k {
		case "command":
			r.strs(v, p, &c.Command)
			if len(c.Command) == 0 {
				r.errf(v, p, "want the command and its arguments, as a list")
			}
		case "timeout":
			r.duration(v, p, &c.Timeout)
		case "per_minute":
			r.intv(v, p, &c.PerMinute, 1, 1<<20)
		case "queue":
			r.intv(v, p, &c.Queue, 1, 1<<20)
		}
	})
}

// normDomain lower-cases a domain and drops a trailing dot; it must be
// a plausible DNS name.
func normDomain(s string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if d == "" || len(d) > 253 {
		return "", fmt.Errorf("%q is not a domain name", s)
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("%q is not a domain name (empty or over-long label)", s)
		}
		for _, c := range l {
			if !(c == '-' || c == '_' || c == '*' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				return "", fmt.Errorf("%q is not a domain name (character %q)", s, c)
			}
		}
	}
	return strings.TrimPrefix(d, "*."), nil
}
