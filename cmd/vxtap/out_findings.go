package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/detect"
	"github.com/vxtap/vxtap/userspace/filter"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// detectHooks is what the findings output lends the rest of the daemon:
// the store behind GET /v1/findings and its Prometheus collector. Both
// stay nil while detection is off.
var detectHooks struct {
	store     api.FindingsSource
	collector prometheus.Collector
	engine    *detect.Engine
}

// minThreatTrie is the least size of the kernel's threat trie: entries
// take memory only when inserted (no preallocation), so room to grow on
// reload costs nothing until used.
const minThreatTrie = 1 << 18

// detectLoad switches the program's threat check on, and sizes its trie,
// when the detect configuration names threat lists at start; without
// them the check is compiled out of the running program (lists a reload
// adds later are checked in userspace).
func detectLoad(cfg *loader.Config) {
	e := detectHooks.engine
	if e == nil || len(e.Config().ThreatLists) == 0 {
		return
	}
	cfg.ThreatEnabled = true
	cfg.ThreatSize = uint32(max(minThreatTrie, 2*e.ThreatPrefixes()))
}

// detectAttach hands the loaded (or re-opened) program's threat trie to
// the engine, whenever the program has the check (lists a reload adds go
// there too); a program loaded without it, or a trie the lists do not
// fit, leaves the userspace check on, with a warning.
func detectAttach(objs *loader.Objects) {
	e := detectHooks.engine
	if !objs.ThreatEnabled() {
		if e != nil && len(e.Config().ThreatLists) > 0 {
			log.Warn().Msg("the running program was loaded without the threat check: threat lists are checked in userspace (flow starts and records); detach and restart to check them in the kernel")
		}
		return
	}
	if e == nil { // a re-opened program with the check, detection now off
		if err := objs.Threats().SetThreats(nil); err != nil {
			log.Warn().Err(err).Msg("empty the threat table")
		}
		return
	}
	if err := e.UseKernelThreats(objs.Threats()); err != nil {
		log.Warn().Err(err).Msg("threat lists stay checked in userspace")
		return
	}
	log.Info().Int("prefixes", e.ThreatPrefixes()).Msg("threat lists checked in the kernel")
}

func init() {
	registerOutput(output{
		name: "findings",
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "detect", Usage: "raise GuardDuty-shaped findings (scans, threat lists, mining, floods, brute force, DNS exfiltration); on by itself when --config has a detect: section"},
			&cli.StringFlag{Name: "findings-log", Usage: "append findings (JSON lines) to this file"},
		},
		build: buildFindings,
	})
}

// buildFindings reads the detect: section of --config (its errors name
// file:line and fail the start), builds the engine and its sinks, and
// re-reads the section on SIGHUP.
func buildFindings(c *cli.Context, env outputEnv) (pipeline.Outputs, error) {
	path := c.String("config")
	cfg, found := detect.Default(), false
	if path != "" {
		got, ok, err := detect.LoadFile(path)
		if err != nil {
			return pipeline.Outputs{}, fmt.Errorf("flag --config: %w", err)
		}
		if ok {
			cfg, found = got, true
		}
	}
	if !found && !c.Bool("detect") {
		if c.String("findings-log") != "" {
			return pipeline.Outputs{}, errors.New("flag --findings-log: detection is off (give --detect or a detect: section in --config)")
		}
		return pipeline.Outputs{}, nil
	}
	sessions, err := detectSessions(c)
	if err != nil {
		return pipeline.Outputs{}, err
	}
	m := detect.NewMetrics()
	var sinks []detect.Sink
	if p := c.String("findings-log"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return pipeline.Outputs{}, fmt.Errorf("flag --findings-log: %w", err)
		}
		sinks = append(sinks, detect.NewJSONLines(f, 4096, m))
	}
	if cfg.Webhook.URL != "" {
		sinks = append(sinks, detect.NewWebhook(cfg.Webhook, m))
	}
	if len(cfg.Exec.Command) > 0 {
		sinks = append(sinks, detect.NewExec(cfg.Exec, m))
	}
	e, err := detect.NewWithMetrics(cfg, sessions, m, sinks...)
	if err != nil {
		return pipeline.Outputs{}, fmt.Errorf("flag --config: detect: %w", err)
	}
	e.Start()
	detectHooks.store, detectHooks.collector, detectHooks.engine = e.Store(), e.Metrics(), e
	go reloadDetectOnHUP(c, e, path)
	log.Info().Int("threat_lists", len(cfg.ThreatLists)).Int("sinks", len(sinks)).Msg("detection on")
	return e.Outputs(), nil
}

// detectSessions maps VNIs to their sessions (name, ENI, addresses) from
// the same documents the filter reads.
func detectSessions(c *cli.Context) (detect.Sessions, error) {
	out := detect.Sessions{}
	if c.String("config") == "" && len(c.StringSlice("aws-filters")) == 0 && len(c.StringSlice("aws-sessions")) == 0 {
		return out, nil
	}
	fc, err := filter.Load(c.String("config"), c.StringSlice("aws-filters"), c.StringSlice("aws-sessions"))
	if err != nil {
		return nil, fmt.Errorf("filter configuration: %w", err)
	}
	for _, s := range fc.Sessions {
		out[s.VNI] = detect.SessionInfo{Name: s.Name, ENI: s.ENI, Addrs: s.Addrs}
	}
	return out, nil
}

// reloadDetectOnHUP re-reads the detect: section and the sessions on
// every SIGHUP; a configuration that does not read keeps the running one.
func reloadDetectOnHUP(c *cli.Context, e *detect.Engine, path string) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	for range ch {
		cfg := detect.Default()
		if path != "" {
			got, ok, err := detect.LoadFile(path)
			if err != nil {
				e.Metrics().Reloaded(false)
				log.Error().Err(err).Msg("SIGHUP: detect configuration does not read; the running one stays")
				continue
			}
			if ok {
				cfg = got
			}
		}
		sessions, err := detectSessions(c)
		if err != nil {
			e.Metrics().Reloaded(false)
			log.Error().Err(err).Msg("SIGHUP: sessions do not read; the running detect configuration stays")
			continue
		}
		if err := e.Reload(cfg, sessions); err != nil {
			log.Error().Err(err).Msg("SIGHUP: detect lists do not read; the running configuration stays")
			continue
		}
		log.Info().Msg("SIGHUP: detect configuration reloaded")
	}
}

// withDetect adds the findings collector, when detection is on, to the
// daemon's extra Prometheus collectors.
func withDetect(cs ...prometheus.Collector) []prometheus.Collector {
	if detectHooks.collector != nil {
		cs = append(cs, detectHooks.collector)
	}
	return cs
}
