package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/enrich"
	"github.com/vxtap/vxtap/userspace/filter"
)

// filterRunFlags are the filter flags of `vxtap run`.
func filterRunFlags() []cli.Flag {
	return append(filterSourceFlags(),
		&cli.StringFlag{Name: "config", Usage: "filter configuration: sessions and filters (YAML, or AWS CLI JSON); SIGHUP re-reads it"},
		&cli.BoolFlag{Name: "no-filter", Usage: "load the program without the filter classifier (every copy analyzed; `vxtap filter apply` has no effect)"},
		&cli.StringFlag{Name: "allowed-sources", Usage: "trusted outer sources of mirror copies, CIDR,... (added to the config's allowed_sources); copies from elsewhere are dropped as unknown_source"},
	)
}

// parseSources reads --allowed-sources: comma-separated CIDRs (a bare
// address is a /32 or /128).
func parseSources(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("flag --allowed-sources: %q is not a CIDR", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// filterReloader keeps a daemon's rule set: it applies it at start and
// again on every SIGHUP, and keeps the running rules when the new ones do
// not read, compile or fit.
type filterReloader struct {
	config                  string
	awsFilters, awsSessions []string
	initial                 *filter.Compiled // read before load, to size the tables
	maps                    *loader.FilterMaps
	flagSources             []netip.Prefix // --allowed-sources
	checking                bool           // the program trusts only allowed_sources
	sources                 *loader.Sources

	mu                   sync.Mutex
	reloadsOK, reloadsKO uint64
	vnis                 atomic.Pointer[[]uint32] // VNIs of the applied sessions
	// sessions enriches flow records; set from each rule set applied.
	sessions enrich.Sessions
}

// SessionVNIs lists the VNIs of the sessions in force: their metric
// series are never folded into vni="other".
func (r *filterReloader) SessionVNIs() []uint32 {
	if p := r.vnis.Load(); p != nil {
		return *p
	}
	return nil
}

// Sessions is the daemon's VNI to session table, kept current by reloads.
func (r *filterReloader) Sessions() *enrich.Sessions { return &r.sessions }

// setupFilter reads the rule set given to `vxtap run` before the program
// is loaded, sizes the filter tables for it (twice over, so reloads can
// grow) and turns the classifier on. Without a rule set every copy is
// analyzed until `vxtap filter apply` installs one.
func setupFilter(c *cli.Context, cfg *loader.Config) (*filterReloader, error) {
	cfg.FilterEnabled = !c.Bool("no-filter")
	r := &filterReloader{config: c.String("config"), awsFilters: c.StringSlice("aws-filters"), awsSessions: c.StringSlice("aws-sessions")}
	var err error
	if r.flagSources, err = parseSources(c.String("allowed-sources")); err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	k := loader.DefaultFilterCapacity
	if r.given() {
		comp, err := r.compile()
		if err != nil {
			return nil, err
		}
		r.initial = comp
		r.sessions.Set(enrich.FromConfig(comp.Config))
		need := loader.CapacityFor(comp)
		k = k.Max(loader.FilterCapacity{Rulesets: 2 * need.Rulesets, Bitsets: 2 * need.Bitsets, Blocks: 2 * need.Blocks,
			Slots: 2 * need.Slots, Sessions: 2 * need.Sessions, ENIAddrs: 2 * need.ENIAddrs,
			Nodes4: 2 * need.Nodes4, Prefix6: 2 * need.Prefix6})
	}
	if cfg.MapSizes == nil {
		cfg.MapSizes = map[string]uint32{}
	}
	for name, size := range k.MapSizes() {
		cfg.MapSizes[name] = size
	}
	cfg.SourceCheck = len(r.allowed(r.initial)) > 0
	r.checking = cfg.SourceCheck
	if !cfg.SourceCheck {
		log.Warn().Msg("no allowed_sources (--allowed-sources or the config): copies from any outer source are analyzed; anyone who reaches the VXLAN port can inject flows")
	}
	switch {
	case !cfg.FilterEnabled:
		log.Warn().Msg("--no-filter: every VNI is analyzed")
	case !r.given():
		log.Warn().Msg("no --config: every VNI is analyzed until `vxtap filter apply` installs sessions")
	}
	return r, nil
}

// allowed is the trusted set: --allowed-sources plus the config's allowed_sources.
func (r *filterReloader) allowed(comp *filter.Compiled) []netip.Prefix {
	out := append([]netip.Prefix(nil), r.flagSources...)
	if comp != nil {
		out = append(out, comp.Config.AllowedSources...)
	}
	return out
}

func (r *filterReloader) given() bool {
	return r.config != "" || len(r.awsFilters) > 0 || len(r.awsSessions) > 0
}

// compile reads and compiles the rule set; warnings go to the log.
func (r *filterReloader) compile() (*filter.Compiled, error) {
	cfg, err := filter.Load(r.config, r.awsFilters, r.awsSessions)
	if err != nil {
		var list filter.ErrorList
		if errors.As(err, &list) {
			return nil, fmt.Errorf("filter configuration:\n%w", err)
		}
		return nil, fmt.Errorf("filter configuration: %w", err)
	}
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w.Error())
	}
	logIgnored(cfg)
	return filter.Compile(cfg), nil
}

// start installs the initial rule set in the loaded (or re-opened) program
// and reloads on SIGHUP until ctx ends. lockDir is the pin directory that
// `vxtap filter apply` locks too.
func (r *filterReloader) start(ctx context.Context, objs *loader.Objects, lockDir string) error {
	r.maps = objs.FilterMaps().WithLock(lockDir)
	r.sources = objs.Sources()
	if err := r.applySources(r.initial); err != nil {
		return err
	}
	if r.initial != nil {
		if err := r.apply(r.initial); err != nil {
			return err
		}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				r.reload()
			}
		}
	}()
	return nil
}

// reload re-reads the rule set (SIGHUP).
func (r *filterReloader) reload() error {
	if !r.given() {
		log.Warn().Msg("SIGHUP: no --config, --aws-filters or --aws-sessions to re-read; rules unchanged")
		return nil
	}
	comp, err := r.compile()
	if err == nil {
		err = r.apply(comp)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.reloadsKO++
		log.Error().Err(err).Msg("filter reload failed: the running rules are kept")
		return err
	}
	r.reloadsOK++
	return nil
}

// applySources installs the trusted sources of a rule set. The program
// checks sources or not from its load on: a reload cannot switch that.
func (r *filterReloader) applySources(comp *filter.Compiled) error {
	src := r.allowed(comp)
	switch {
	case !r.checking && len(src) > 0:
		log.Warn().Int("allowed_sources", len(src)).Msg("allowed_sources given after start: restart vxtap run to enforce them")
		return nil
	case !r.checking:
		return nil
	case len(src) == 0:
		return errors.New("allowed_sources: the new configuration has none, which would refuse every copy; the running sources are kept")
	}
	if err := r.sources.Set(src); err != nil {
		return fmt.Errorf("allowed_sources: %w", err)
	}
	log.Info().Int("allowed_sources", len(src)).Msg("trusted mirror sources applied")
	return nil
}

func (r *filterReloader) apply(comp *filter.Compiled) error {
	if r.sources != nil && comp != r.initial {
		if err := r.applySources(comp); err != nil {
			return err
		}
	}
	if _, err := r.maps.Apply(comp); err != nil {
		return err
	}
	r.sessions.Set(enrich.FromConfig(comp.Config))
	var vnis []uint32
	for _, s := range comp.Sessions {
		if !s.Default {
			vnis = append(vnis, s.VNI)
		}
	}
	r.vnis.Store(&vnis)
	gen, _ := r.maps.ActiveGen()
	k := loader.CapacityFor(comp)
	log.Info().Uint32("generation", gen).Int("sessions", len(comp.Sessions)-1).Int("rulesets", k.Rulesets).
		Int("rule_slots", k.Slots).Msg("filter rules applied")
	return nil
}

// Metric descriptions of the filter.
var (
	filterPktsDesc = prometheus.NewDesc("vxtap_filter_rule_packets_total",
		"Packets decided by each filter rule (or by no match, the amazon-dns service, or the session), since the rule set was applied.",
		[]string{"iface", "kind", "filter", "direction", "rule", "action"}, nil)
	filterBytesDesc = prometheus.NewDesc("vxtap_filter_rule_bytes_total",
		"Inner IP bytes decided by each filter rule, since the rule set was applied.",
		[]string{"iface", "kind", "filter", "direction", "rule", "action"}, nil)
	filterGenDesc     = prometheus.NewDesc("vxtap_filter_generation", "Table generation (0 or 1) the classifier uses.", []string{"iface"}, nil)
	filterReloadsDesc = prometheus.NewDesc("vxtap_filter_reloads_total", "SIGHUP reloads of the filter rules, by result.", []string{"iface", "result"}, nil)
)

// filterCollector exposes the filter's hit counters, read from the maps
// at each scrape (so rules applied by `vxtap filter apply` show too).
type filterCollector struct {
	iface string
	r     *filterReloader
}

// Collector returns the Prometheus collector of the filter counters.
func (r *filterReloader) Collector(iface string) prometheus.Collector {
	return &filterCollector{iface: iface, r: r}
}

func (c *filterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{filterPktsDesc, filterBytesDesc, filterGenDesc, filterReloadsDesc} {
		ch <- d
	}
}

func (c *filterCollector) Collect(ch chan<- prometheus.Metric) {
	if c.r.maps == nil {
		return
	}
	c.r.mu.Lock()
	ok, ko := c.r.reloadsOK, c.r.reloadsKO
	c.r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(filterReloadsDesc, prometheus.CounterValue, float64(ok), c.iface, "ok")
	ch <- prometheus.MustNewConstMetric(filterReloadsDesc, prometheus.CounterValue, float64(ko), c.iface, "error")
	if gen, err := c.r.maps.ActiveGen(); err == nil {
		ch <- prometheus.MustNewConstMetric(filterGenDesc, prometheus.GaugeValue, float64(gen), c.iface)
	}
	hits, err := c.r.maps.HitCounts()
	if err != nil {
		return
	}
	for _, h := range hits {
		labels := hitLabels(c.iface, h)
		ch <- prometheus.MustNewConstMetric(filterPktsDesc, prometheus.CounterValue, float64(h.Packets), labels...)
		ch <- prometheus.MustNewConstMetric(filterBytesDesc, prometheus.CounterValue, float64(h.Bytes), labels...)
	}
}

// hitLabels: rule is the RuleNumber, "no-match", "amazon-dns", or for
// sessions "vni-N" / "default".
func hitLabels(iface string, h loader.RuleHit) []string {
	dir, rule := h.Dir.String(), ""
	switch h.Kind {
	case loader.HitRule:
		rule = strconv.Itoa(h.Rule)
	case loader.HitNoMatch:
		rule = "no-match"
	case loader.HitNetworkService:
		rule = "amazon-dns"
	case loader.HitSession:
		dir, rule = "", fmt.Sprintf("vni-%d", h.VNI)
		if h.Default {
			rule = "default"
		}
	}
	return []string{iface, h.Kind, h.Filter, dir, rule, h.Action.String()}
}
