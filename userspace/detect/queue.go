package detect

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// queue is a sink's bounded queue: send never blocks (a full queue, or a
// closed sink, drops and counts), and close may race with send.
type queue struct {
	mu      sync.RWMutex
	closed  bool
	ch      chan Finding
	dropped prometheus.Counter
}

func newQueue(n int, dropped prometheus.Counter) *queue {
	return &queue{ch: make(chan Finding, max(n, 1)), dropped: dropped}
}

func (q *queue) send(f Finding) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.dropped.Inc()
		return
	}
	select {
	case q.ch <- f:
	default:
		q.dropped.Inc()
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
