package detect

import (
	"encoding/json"
	"io"

	"github.com/prometheus/client_golang/prometheus"
)

// JSONLines writes each finding as one JSON line, from its own goroutine
// behind a bounded queue: a slow disk or pipe drops (and counts) findings
// instead of stalling the detectors.
type JSONLines struct {
	w       io.Writer
	q       *queue
	done    chan struct{}
	sent    prometheus.Counter
	dropped prometheus.Counter
	failed  prometheus.Counter
}

// NewJSONLines writes to w; queue bounds the findings waiting.
func NewJSONLines(w io.Writer, queue int, m *Metrics) *JSONLines {
	j := &JSONLines{w: w, done: make(chan struct{}),
		sent: m.SinkCounter("jsonl", "sent"), dropped: m.SinkCounter("jsonl", "dropped"), failed: m.SinkCounter("jsonl", "failed")}
	j.q = newQueue(queue, j.dropped)
	go j.run()
	return j
}

func (j *JSONLines) Name() string { return "jsonl" }

// Send queues f, or counts it dropped when the queue is full.
func (j *JSONLines) Send(f Finding) { j.q.send(f) }

func (j *JSONLines) run() {
	defer close(j.done)
	for f := range j.q.ch {
		b, err := json.Marshal(f)
		if err == nil {
			_, err = j.w.Write(append(b, '\n'))
		}
		if err != nil {
			j.failed.Inc()
			continue
		}
		j.sent.Inc()
	}
}

// Close writes what is queued, then syncs and closes the writer when it
// is a file.
func (j *JSONLines) Close() error {
	j.q.close()
	<-j.done
	var err error
	if s, ok := j.w.(interface{ Sync() error }); ok {
		err = s.Sync()
	}
	if c, ok := j.w.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
