package daemon

import "github.com/vxtap/vxtap/userspace/flow"

// takeCaptures hands the copies live captures asked for to cfg.Captures
// and returns the samples meant for the sample sinks. A capture copy is
// never a sample: the data path sends a copy both asked for twice.
func (d *Daemon) takeCaptures(sms []flow.Sample) []flow.Sample {
	n := 0
	for _, s := range sms {
		if s.Captures != 0 {
			n++
		}
	}
	if n == 0 {
		return sms
	}
	caps := make([]flow.Sample, 0, n)
	rest := sms[:0]
	for _, s := range sms {
		if s.Captures != 0 {
			caps = append(caps, s)
		} else {
			rest = append(rest, s)
		}
	}
	d.captures.Add(uint64(n))
	if d.cfg.Captures != nil {
		d.cfg.Captures(caps)
	}
	return rest
}
