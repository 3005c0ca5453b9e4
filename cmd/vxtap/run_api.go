package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog/log"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/daemon"
	"github.com/vxtap/vxtap/userspace/enrich"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/rates"
)

// localAPI is the daemon's Unix-socket control API (vxtap top) and the
// rate tracker it reads, fed by every sweep.
type localAPI struct {
	srv  *api.Server
	done chan error
	once sync.Once
}

// newRates sizes the tracker for the flow table: the room is reserved,
// not touched, so it costs memory only as flows fill it, and a filling
// table never leaves outgrown copies behind for the garbage collector.
func newRates(tableSize uint32) *rates.Tracker {
	return rates.New(rates.Config{Capacity: int(tableSize)})
}

// startAPI serves /run/vxtap/<iface>.sock for the daemon d.
func startAPI(iface string, tr *rates.Tracker, objs *loader.Objects, d *daemon.Daemon, st runState, sessions *enrich.Sessions, caps *captures) (*localAPI, error) {
	status := func() api.Status {
		ok, why := d.Health()
		s := d.State()
		return api.Status{Iface: iface, Version: version, PID: os.Getpid(), Started: st.Started,
			Healthy: ok, Health: why, XDPMode: st.Mode, Driver: st.Driver, ProgID: st.ProgID,
			FlowTableSize: objs.FlowTableSize(), Flows: s.LastSweep.Flows,
			LastSweepSeconds: s.LastSweep.Duration.Seconds(), Records: s.Records, Evicted: s.Evicted, Vanished: s.Vanished, Samples: s.Samples,
			Captures: caps.hub.Running(), CaptureCopies: s.Captured, Sinks: s.Sinks}
	}
	srv, err := api.Listen(iface, api.Parts{Rates: tr, Datapath: objs, StatusFunc: status, Sessions: sessionName(sessions)})
	if err != nil {
		return nil, err
	}
	if detectHooks.store != nil {
		srv.SetFindings(detectHooks.store) // GET /v1/findings
	}
	srv.SetCaptures(caps.hub, caps.sessions) // GET /v1/capture
	a := &localAPI{srv: srv, done: make(chan error, 1)}
	go func() { a.done <- srv.Serve() }()
	log.Info().Str("socket", srv.Path()).Msg("local API listening")
	return a, nil
}

// sessionName names a VNI's session for vxtap top, "" when it has none.
func sessionName(s *enrich.Sessions) func(uint32) string {
	return func(vni uint32) string {
		v, _ := s.Lookup(vni)
		return v.Name
	}
}

// stop ends the API (live captures get their end frame and their slots
// are cleared while the maps are still open); safe to call twice.
func (a *localAPI) stop() {
	a.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		a.srv.Shutdown(ctx)
		<-a.done
	})
}

// With no daemon, `vxtap top` reads the flow map a --keep-attached
// program left pinned.
func init() {
	pinnedFlows = func(iface string) (flow.FlowSource, error) {
		objs, att, err := loader.OpenPinned(iface)
		if err != nil {
			return nil, err
		}
		att.Link.Close() // top only reads the maps
		return objs, nil
	}
}
