package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func one(int) int { return 1 }

// TestQueueRetriesThenDrops: a sink that fails is retried by the policy,
// then the item counts as dropped; errors, retries and the last error
// are kept.
func TestQueueRetriesThenDrops(t *testing.T) {
	var calls atomic.Int32
	q := NewQueue("x", "records", 4, false, Retry{Attempts: 3, Min: time.Millisecond, Max: time.Millisecond}, one,
		func(context.Context, int) error { calls.Add(1); return errors.New("boom") })
	q.Start()
	q.Offer(1)
	q.Close(time.Now().Add(time.Second))
	st := q.Stats()
	if calls.Load() != 3 || st.Errors != 3 || st.Retries != 2 || st.Dropped != 1 || st.Written != 0 || st.LastError != "boom" || !st.Failing {
		t.Errorf("calls %d, stats %+v", calls.Load(), st)
	}
}

// TestQueueDurableRecovers: with the durable policy a failing write is
// retried until it works; OnWritten hears of it once.
func TestQueueDurableRecovers(t *testing.T) {
	var calls atomic.Int32
	acked := make(chan int, 1)
	q := NewQueue("x", "records", 4, true, Retry{Min: time.Millisecond, Max: 2 * time.Millisecond}, one,
		func(context.Context, int) error {
			if calls.Add(1) < 10 {
				return errors.New("ENOSPC")
			}
			return nil
		})
	q.OnWritten = func(v int) { acked <- v }
	q.Start()
	q.Offer(7)
	select {
	case v := <-acked:
		if v != 7 {
			t.Errorf("acked %d", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never written")
	}
	q.Close(time.Now().Add(time.Second))
	if st := q.Stats(); st.Written != 1 || st.Dropped != 0 || st.Errors != 9 || st.Failing || st.Writes != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestQueueFullCountsDrops: Offer never waits; what does not fit is
// counted, and Close gives up on a stuck sink by its deadline.
func TestQueueFullCountsDrops(t *testing.T) {
	block := make(chan struct{})
	q := NewQueue("x", "events", 2, false, DefaultRetry, one, func(context.Context, int) error { <-block; return nil })
	q.Start()
	took := 0
	for i := 0; i < 10; i++ {
		if q.Offer(i) {
			took++
		}
	}
	st := q.Stats()
	if took > 3 || st.Dropped != uint64(10-took) || !st.Full {
		t.Errorf("took %d, stats %+v", took, st)
	}
	start := time.Now()
	if q.Close(time.Now().Add(50 * time.Millisecond)) {
		t.Error("Close reported a clean drain past a stuck write")
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Close took %s", el)
	}
	close(block)
}
