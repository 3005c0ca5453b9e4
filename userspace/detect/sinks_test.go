package detect

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sampleFinding(t *testing.T) Finding {
	t.Helper()
	cfg := Default()
	cfg.Account, cfg.Region = "123456789012", "eu-west-1"
	e, sink := newTestEngine(t, cfg)
	e.WriteEvents(synFlood(inst, remote1, 2000, false))
	return only(t, e, sink, TypeDoSTCP)
}

func fastWebhook(url string) WebhookConfig {
	return WebhookConfig{URL: url, Queue: 8, Timeout: time.Second, MaxAttempts: 4, Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
}

// The receiver fails twice (503), then takes it: one delivery, two
// retries, and the body is the EventBridge envelope.
func TestWebhookRetries(t *testing.T) {
	var calls atomic.Int32
	var body []byte
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		body, _ = io.ReadAll(r.Body)
		mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	m := NewMetrics()
	w := NewWebhook(fastWebhook(srv.URL), m)
	f := sampleFinding(t)
	w.Send(f)
	w.Close()
	if got := counterValue(t, m, "vxtap_findings_sink_total", "sent", "webhook"); got != 1 || calls.Load() != 3 {
		t.Fatalf("sent %v after %d calls", got, calls.Load())
	}
	if got := counterValue(t, m, "vxtap_findings_sink_total", "retried", "webhook"); got != 2 {
		t.Fatalf("retried %v", got)
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	detail := env["detail"].(map[string]any)
	if env["version"] != "0" || env["detail-type"] != "vxtap Finding" || env["source"] != "vxtap" || env["account"] != "123456789012" ||
		env["region"] != "eu-west-1" || env["resources"].([]any)[0] != "eni-0a1b2c3d4e5f60789" || !strings.HasPrefix(env["id"].(string), f.ID) ||
		detail["type"] != TypeDoSTCP || detail["severity"] != 8.0 || detail["service"].(map[string]any)["resourceRole"] != "ACTOR" {
		t.Fatalf("envelope %s", body)
	}
	if _, err := time.Parse(time.RFC3339, env["time"].(string)); err != nil {
		t.Fatal(err)
	}
}

// A 400 is final (no retry); a receiver that never answers uses up the
// attempts; both are counted failed.
func TestWebhookFailures(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer srv.Close()
	m := NewMetrics()
	w := NewWebhook(fastWebhook(srv.URL), m)
	w.Send(sampleFinding(t))
	w.Close()
	if got := counterValue(t, m, "vxtap_findings_sink_total", "failed", "webhook"); got != 1 || calls.Load() != 1 {
		t.Fatalf("400: failed %v after %d calls", got, calls.Load())
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close() // connection refused from now on
	m = NewMetrics()
	w = NewWebhook(fastWebhook(url), m)
	w.Send(sampleFinding(t))
	w.Close()
	if f, r := counterValue(t, m, "vxtap_findings_sink_total", "failed", "webhook"), counterValue(t, m, "vxtap_findings_sink_total", "retried", "webhook"); f != 1 || r != 3 {
		t.Fatalf("refused: failed %v retried %v, want 1 and 3", f, r)
	}
}

// A receiver that hangs never blocks Send: the queue fills, the rest is
// dropped and counted.
func TestWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := NewMetrics()
	cfg := fastWebhook(srv.URL)
	cfg.Queue, cfg.Timeout, cfg.MaxAttempts = 4, 300*time.Millisecond, 1
	w := NewWebhook(cfg, m)
	f := sampleFinding(t)
	began := time.Now()
	for range 1000 {
		w.Send(f)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Fatalf("1000 sends took %v", d)
	}
	dropped := counterValue(t, m, "vxtap_findings_sink_total", "dropped", "webhook")
	if dropped < float64(1000-cfg.Queue-1) {
		t.Fatalf("dropped %v", dropped)
	}
	w.Close()
	w.Send(f) // after Close: dropped, no panic
}

// The hook gets the finding on stdin; a slow one is killed at the
// timeout; over the rate limit, findings are dropped and counted.
func TestExecHook(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "got")
	script := filepath.Join(dir, "hook.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+out+"\n"), 0o755)
	m := NewMetrics()
	x := NewExec(ExecConfig{Command: []string{script}, Timeout: 5 * time.Second, PerMinute: 2, Queue: 16}, m)
	f := sampleFinding(t)
	for range 5 {
		x.Send(f)
	}
	x.Close()
	data, _ := os.ReadFile(out)
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("hook ran %d times, want 2 (rate limit): %s", len(lines), data)
	}
	var got Finding
	if err := json.Unmarshal(lines[0], &got); err != nil || got.ID != f.ID || got.Type != TypeDoSTCP {
		t.Fatalf("stdin %s: %v", lines[0], err)
	}
	if r := counterValue(t, m, "vxtap_findings_sink_total", "rate_limited", "exec"); r != 3 {
		t.Fatalf("rate_limited %v", r)
	}

	slow := filepath.Join(dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\nsleep 30\n"), 0o755)
	m = NewMetrics()
	x = NewExec(ExecConfig{Command: []string{slow}, Timeout: 200 * time.Millisecond, PerMinute: 10, Queue: 4}, m)
	began := time.Now()
	x.Send(f)
	x.Close()
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("timeout not enforced: %v", d)
	}
	if got := counterValue(t, m, "vxtap_findings_sink_total", "failed", "exec"); got != 1 {
		t.Fatalf("failed %v", got)
	}
}

// JSON lines: one finding per line, each a GuardDuty-shaped detail.
func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	m := NewMetrics()
	j := NewJSONLines(&buf, 8, m)
	f := sampleFinding(t)
	j.Send(f)
	j.Send(f)
	j.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var back Finding
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &back) != nil || back.ID != f.ID ||
		back.Service.Action.NetworkConnectionAction.RemoteIPDetails.IPAddressV4 != remote1.String() {
		t.Fatalf("lines %q", lines)
	}
}
