package main

import (
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/enrich"
	"github.com/vxtap/vxtap/userspace/livecap"
)

// captures is the daemon's side of `vxtap capture`: the hub the ring
// reader routes capture copies through, and the session names the
// capture files carry.
type captures struct {
	hub  *livecap.Hub
	sess *enrich.Sessions
}

// newCaptures clears capture slots a previous daemon left in pinned maps
// (a killed daemon cannot clear its own). Session names come from the
// enrichment table, so a SIGHUP reload renames them for later captures.
func newCaptures(objs *loader.Objects, sess *enrich.Sessions) (*captures, error) {
	for i := 0; i < livecap.MaxSlots; i++ {
		if err := objs.ClearCapture(i); err != nil {
			return nil, err
		}
	}
	return &captures{hub: livecap.NewHub(objs), sess: sess}, nil
}

// sessions is the VNI -> session name map as configured now.
func (c *captures) sessions() map[uint32]string {
	names := map[uint32]string{}
	if c.sess == nil {
		return names
	}
	for vni, s := range c.sess.All() {
		names[vni] = s.Name
	}
	return names
}
