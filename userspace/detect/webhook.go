package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog/log"
)

// Envelope is an EventBridge event around a finding, as GuardDuty's
// events are (detail-type "GuardDuty Finding", source "aws.guardduty"),
// with vxtap's names, so EventBridge rules and Lambdas need only their
// pattern changed.
type Envelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     Finding  `json:"detail"`
}

// Wrap puts f in an envelope; the event id is the finding id and its
// update time, so a receiver can drop a retried duplicate.
func Wrap(f Finding) Envelope {
	res := []string{}
	for _, ni := range f.Resource.InstanceDetails.NetworkInterfaces {
		if ni.NetworkInterfaceID != "" {
			res = append(res, ni.NetworkInterfaceID)
		}
	}
	return Envelope{Version: "0", ID: fmt.Sprintf("%s-%d", f.ID, f.UpdatedAt.UnixNano()), DetailType: "vxtap Finding",
		Source: "vxtap", Account: f.AccountID, Time: f.UpdatedAt.UTC().Format(time.RFC3339), Region: f.Region,
		Resources: res, Detail: f}
}

// Webhook POSTs each finding's envelope to a URL from its own goroutine:
// a bounded queue (full: dropped and counted), a timeout per attempt,
// retries with doubling backoff on network errors, 429 and 5xx, none on
// other 4xx (the receiver refuses it; resending would not help).
type Webhook struct {
	cfg    WebhookConfig
	shown  string // the URL for messages, password redacted
	client *http.Client
	q      *queue
	done   chan struct{}
	stop   chan struct{}
	once   sync.Once
	count  func(outcome string) prometheus.Counter
}

// NewWebhook starts the sink.
func NewWebhook(cfg WebhookConfig, m *Metrics) *Webhook {
	shown := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		u.RawQuery = "" // tokens often ride in the query
		shown = u.Redacted()
	}
	w := &Webhook{cfg: cfg, shown: shown, client: &http.Client{Timeout: cfg.Timeout},
		done: make(chan struct{}), stop: make(chan struct{}),
		count: func(o string) prometheus.Counter { return m.SinkCounter("webhook", o) }}
	for _, o := range []string{"sent", "dropped", "failed", "retried"} {
		w.count(o)
	}
	w.q = newQueue(cfg.Queue, w.count("dropped"))
	go w.run()
	return w
}

func (w *Webhook) Name() string { return "webhook" }

// Send queues f, or counts it dropped.
func (w *Webhook) Send(f Finding) { w.q.send(f) }

func (w *Webhook) run() {
	defer close(w.done)
	for f := range w.q.ch {
		w.deliver(f)
	}
}

// deliver tries until sent, refused, out of attempts or stopped.
func (w *Webhook) deliver(f Finding) {
	body, err := json.Marshal(Wrap(f))
	if err != nil {
		w.count("failed").Inc()
		return
	}
	delay := w.cfg.Backoff
	for attempt := 1; ; attempt++ {
		select {
		case <-w.stop: // Close gave up waiting
			w.count("failed").Inc()
			return
		default:
		}
		retry, err := w.post(body)
		if err == nil {
			w.count("sent").Inc()
			return
		}
		if !retry || attempt >= w.cfg.MaxAttempts {
			w.count("failed").Inc()
			log.Warn().Err(err).Int("attempts", attempt).Str("finding", f.ID).Msg("webhook: finding not delivered")
			return
		}
		w.count("retried").Inc()
		select {
		case <-time.After(delay):
		case <-w.stop:
			w.count("failed").Inc()
			return
		}
		delay = min(2*delay, w.cfg.MaxBackoff)
	}
}

func (w *Webhook) post(body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vxtap")
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, secrets and all
		}
		return true, fmt.Errorf("POST %s: %w", w.shown, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("%s: %s", w.shown, resp.Status)
	}
	return false, fmt.Errorf("%s refused the finding: %s", w.shown, resp.Status)
}

// closeGrace is how long Close lets queued findings and their retries
// go on before it gives up on them (counted failed).
const closeGrace = 5 * time.Second

// Close delivers what is queued, retries included, for up to closeGrace,
// then stops.
func (w *Webhook) Close() error {
	w.q.close()
	select {
	case <-w.done:
	case <-time.After(closeGrace):
		w.once.Do(func() { close(w.stop) })
		<-w.done
	}
	return nil
}
