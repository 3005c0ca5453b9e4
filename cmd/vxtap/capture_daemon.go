package main

import (
	"github.com/rs/zerolog/log"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/livecap"
)

// captures is the daemon's side of `vxtap capture`: the hub the ring
// reader routes capture copies through, and the session names the
// capture files carry.
type captures struct {
	hub   *livecap.Hub
	names map[uint32]string
}

// newCaptures clears capture slots a previous daemon left in pinned maps
// (a killed daemon cannot clear its own) and reads the session names.
func newCaptures(c *cli.Context, objs *loader.Objects) (*captures, error) {
	for i := 0; i < livecap.MaxSlots; i++ {
		if err := objs.ClearCapture(i); err != nil {
			return nil, err
		}
	}
	names := map[uint32]string{}
	sessions, err := detectSessions(c)
	if err != nil {
		return nil, err
	}
	for vni, s := range sessions {
		if s.Name != "" {
			names[vni] = s.Name
		}
	}
	log.Debug().Int("sessions", len(names)).Msg("live captures ready")
	return &captures{hub: livecap.NewHub(objs), names: names}, nil
}

// sessions is the VNI -> session name map (read once at start).
func (c *captures) sessions() map[uint32]string { return c.names }
