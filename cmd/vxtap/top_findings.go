package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/detect"
	"github.com/vxtap/vxtap/userspace/topview"
)

// findingsLister is a top source that can list the daemon's findings
// (GET /v1/findings); pinned maps cannot.
type findingsLister interface {
	Findings(ctx context.Context, q detect.Query) (*api.Findings, error)
}

func (d daemonSource) Findings(ctx context.Context, q detect.Query) (*api.Findings, error) {
	return d.c.Findings(ctx, q)
}

// errNoFindings: the source has no findings to give.
var errNoFindings = errors.New("findings need a running daemon (these are pinned maps)")

// maxPaneFindings bounds what the pane keeps, as the daemon's store does
// by default (limits.findings).
const maxPaneFindings = 10000

// findingsFeed keeps the daemon's findings up to date with incremental
// polls: the first asks for all, later ones for what changed since.
type findingsFeed struct {
	byID map[string]detect.Finding
	seq  uint64
}

func newFindingsFeed() *findingsFeed { return &findingsFeed{byID: map[string]detect.Finding{}} }

// merge takes one answer in (an update replaces the finding it updates)
// and keeps at most maxPaneFindings, the least recently updated dropped.
func (f *findingsFeed) merge(page *api.Findings) {
	for _, x := range page.Findings {
		f.byID[x.ID] = x
	}
	if page.Seq > f.seq {
		f.seq = page.Seq
	}
	for len(f.byID) > maxPaneFindings {
		oldest := ""
		for id, x := range f.byID {
			if oldest == "" || x.UpdatedAt.Before(f.byID[oldest].UpdatedAt) {
				oldest = id
			}
		}
		delete(f.byID, oldest)
	}
}

func (f *findingsFeed) list() []detect.Finding {
	out := make([]detect.Finding, 0, len(f.byID))
	for _, x := range f.byID {
		out = append(out, x)
	}
	return out
}

// fetchFindings asks the source for what changed after seq.
func fetchFindings(src topSource, seq uint64) tea.Cmd {
	return func() tea.Msg {
		fl, ok := src.(findingsLister)
		if !ok {
			return topFindings{err: errNoFindings}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		page, err := fl.Findings(ctx, detect.Query{After: seq})
		return topFindings{page: page, err: err}
	}
}

// topFindings is one answer of the findings poll.
type topFindings struct {
	page *api.Findings
	err  error
}

// findingsOnce prints the daemon's findings once (`vxtap top --once
// --findings`): the table, or the API's JSON with --json.
func findingsOnce(src topSource, n int, asJSON bool) error {
	fl, ok := src.(findingsLister)
	if !ok {
		return cli.Exit("vxtap top: "+errNoFindings.Error(), 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	page, err := fl.Findings(ctx, detect.Query{})
	if err != nil {
		return cli.Exit("vxtap top: "+err.Error(), 1)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	_, err = io.WriteString(os.Stdout, topview.FindingsTable(page.Findings, time.Now(), n, terminalWidth(os.Stdout)).String())
	return err
}
