package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
)

// Exec runs a configured command once per finding, the finding's JSON on
// its stdin, from its own goroutine: a bounded queue, a timeout (the
// command is killed past it), and a rate limit (at most PerMinute runs in
// any minute; findings over it are dropped and counted, never queued
// without bound).
type Exec struct {
	cfg   ExecConfig
	q     *queue
	done  chan struct{}
	count func(outcome string) prometheus.Counter
	runs  []time.Time // start times within the last minute
	now   func() time.Time
}

// NewExec starts the hook.
func NewExec(cfg ExecConfig, m *Metrics) *Exec {
	x := &Exec{cfg: cfg, done: make(chan struct{}), now: time.Now,
		count: func(o string) prometheus.Counter { return m.SinkCounter("exec", o) }}
	for _, o := range []string{"sent", "dropped", "failed", "rate_limited"} {
		x.count(o)
	}
	x.q = newQueue(cfg.Queue, x.count("dropped"))
	go x.run()
	return x
}

func (x *Exec) Name() string { return "exec" }

// Send queues f, or counts it dropped.
func (x *Exec) Send(f Finding) { x.q.send(f) }

func (x *Exec) run() {
	defer close(x.done)
	for f := range x.q.ch {
		if !x.allow() {
			x.count("rate_limited").Inc()
			continue
		}
		x.runOne(f)
	}
}

// allow is a sliding one-minute window over run start times.
func (x *Exec) allow() bool {
	now := x.now()
	keep := x.runs[:0]
	for _, t := range x.runs {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	x.runs = keep
	if len(x.runs) >= x.cfg.PerMinute {
		return false
	}
	x.runs = append(x.runs, now)
	return true
}

func (x *Exec) runOne(f Finding) {
	body, err := json.Marshal(f)
	if err != nil {
		x.count("failed").Inc()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, x.cfg.Command[0], x.cfg.Command[1:]...)
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		x.count("failed").Inc()
		log.Warn().Err(err).Str("finding", f.ID).Str("output", tail(out.String(), 512)).Msg("exec hook failed")
		return
	}
	x.count("sent").Inc()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Close runs what is queued, then stops.
func (x *Exec) Close() error {
	x.q.close()
	<-x.done
	return nil
}
