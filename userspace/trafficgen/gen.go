package trafficgen

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/report"
)

// Options shape a run.
type Options struct {
	Rounds   int           // rounds of the mix per source (at least 1)
	Duration time.Duration // keep running rounds until this much time passed
	Pause    time.Duration // between rounds
	Quiet    time.Duration // how long the interfaces must be silent before counting stops
}

// DefaultOptions: one round.
func DefaultOptions() Options {
	return Options{Rounds: 1, Pause: 200 * time.Millisecond, Quiet: 700 * time.Millisecond}
}

// Row is one expected one-way flow.
type Row struct {
	flow.Key
	Count
}

// Result is what the run sent, as the mirrored interfaces saw it.
type Result struct {
	Rows   []Row
	Rounds int
	NonIP  uint64 // non-IP frames seen on the workload links (vxtap counts them as non_ip)
}

// round is the traffic mix of one source: TCP with payload both ways,
// UDP both ways, ICMP echo, each over IPv4 and IPv6.
func round(s Source, n int) error {
	x := 1 + n%4 // sizes vary by round, so some talkers are heavier than others
	return inNetns(s.NS, func() error {
		steps := []func() error{
			func() error { return tcpExchange(s.PeerV4, 200*x, 3000*x) },
			func() error { return tcpExchange(s.PeerV4, 20000*x, 200) },
			func() error { return tcpExchange(s.PeerV4, 1, 60000*x) },
			func() error { return tcpExchange(s.PeerV6, 500, 8000*x) },
			func() error { return udpExchange(s.PeerV4, 5, 100) },
			func() error { return udpExchange(s.PeerV6, 3, 300) },
			func() error { return pingExchange(s.WLv4, s.PeerV4, 3, 0x7800+n) },
			func() error { return pingExchange(s.WLv6, s.PeerV6, 2, 0x7900+n) },
		}
		for _, st := range steps {
			if err := st(); err != nil {
				return fmt.Errorf("source %s round %d: %w", s.NS, n, err)
			}
		}
		return nil
	})
}

// Run drives the mix through every source of the lab and returns the
// exact per-flow counts of what crossed the mirrored interfaces.
func Run(lab *Lab, opt Options) (*Result, error) {
	if opt.Rounds < 1 {
		opt.Rounds = 1
	}
	var obs []*observer
	stop := make(chan struct{})
	var srvs []*servers
	cleanup := func() {
		for _, s := range srvs {
			s.close()
		}
	}
	for _, s := range lab.Sources {
		o, err := observe(s.NS, s.Iface, s.VNI)
		if err != nil {
			close(stop)
			cleanup()
			return nil, err
		}
		obs = append(obs, o)
		go o.run(stop)
		sv, err := startServers(s.PeerNS)
		if err != nil {
			close(stop)
			cleanup()
			return nil, err
		}
		srvs = append(srvs, sv)
	}

	start := time.Now()
	rounds := 0
	var runErr error
	for rounds < opt.Rounds || time.Since(start) < opt.Duration {
		var wg sync.WaitGroup
		errs := make([]error, len(lab.Sources))
		for i, s := range lab.Sources {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = round(s, rounds)
			}()
		}
		wg.Wait()
		rounds++
		if runErr = errors.Join(errs...); runErr != nil {
			break
		}
		time.Sleep(opt.Pause)
	}

	// Let every close, ACK and echo land, then stop counting.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		quiet := true
		for _, o := range obs {
			if o.quietFor() < opt.Quiet {
				quiet = false
			}
		}
		if quiet {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	res := &Result{Rounds: rounds}
	for _, o := range obs {
		if err := o.finish(); err != nil {
			runErr = errors.Join(runErr, err)
		}
		res.NonIP += o.nonIP
		for k, c := range o.counts {
			res.Rows = append(res.Rows, Row{Key: k, Count: *c})
		}
	}
	for _, s := range srvs {
		runErr = errors.Join(runErr, s.close())
	}
	SortRows(res.Rows)
	return res, runErr
}

// SortRows orders rows as the corpus truth files.
func SortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool { return report.KeyLess(rows[i].Key, rows[j].Key) })
}
