package daemon

import (
	"testing"

	"github.com/vxtap/vxtap/userspace/export/jsonl"
	"github.com/vxtap/vxtap/userspace/pipeline"
)

// newLife is one life of a daemon in a test that kills and restarts it:
// every life shares dir (its batch numbers), the sources and the flow log,
// as successive `vxtap run`s do. tune adjusts fastConfig.
func newLife(t *testing.T, dir string, src Sources, sink pipeline.RecordSink, tune func(*Config)) *Daemon {
	t.Helper()
	seq, err := pipeline.OpenSeq(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.Seq = seq
	tune(&cfg)
	d, err := New(cfg, src, pipeline.Outputs{Records: []pipeline.RecordSink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// openLog opens the flow log each life of such a test writes.
func openLog(t *testing.T, path string) *jsonl.Sink {
	t.Helper()
	s, err := jsonl.Open(jsonl.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
