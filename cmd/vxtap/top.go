package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/ifname"
	"github.com/vxtap/vxtap/userspace/rates"
	"github.com/vxtap/vxtap/userspace/topview"
	"golang.org/x/sys/unix"
)

func init() { commands = append(commands, topCommand()) }

// PinnedOpener opens the flow table a program left pinned for iface
// (`vxtap run --keep-attached`), for `vxtap top` when no daemon answers.
// If the source is also a flow.CounterSource the header shows the data
// path counters; if it is an io.Closer it is closed when top exits.
type PinnedOpener func(iface string) (flow.FlowSource, error)

// pinnedFlows is set by the loader wiring. While nil, `vxtap top` talks
// to a daemon only and says so when there is none.
var pinnedFlows PinnedOpener

func topCommand() *cli.Command {
	return &cli.Command{
		Name:  "top",
		Usage: "live top talkers of a running daemon (or of the pinned flow table when none runs)",
		Description: "Keys: q quit, s/S sort (rate, bytes, packets), g/G grouping, / filter, Esc clear filter, f findings pane, p pause, ? help.\n" +
			"Filter terms (all must match): vni 42, 198.18.0.0/15 (source or destination), src/dst/mirror CIDR,\n" +
			"port 443, sport N, dport N, tcp, udp, icmp, proto N.",
		Flags: append([]cli.Flag{
			ifaceFlag(false, "mirror target interface (default: the only one with a daemon or pins)"),
			&cli.StringFlag{Name: "socket", Usage: "API socket (default: " + api.SocketPath("<iface>") + ")"},
			&cli.BoolFlag{Name: "once", Usage: "print the table once and exit"},
			&cli.BoolFlag{Name: "json", Usage: "print the view once as JSON and exit"},
			&cli.BoolFlag{Name: "findings", Usage: "the daemon's findings: with --once/--json print them instead of the talkers; live, open with the findings pane (key f)"},
			&cli.IntFlag{Name: "n", Usage: "rows to show, 0 = the most the daemon gives (10000) (default: 20 with --once/--json, what fits on screen otherwise)"},
			&cli.StringFlag{Name: "group", Value: string(topview.GroupFlow), Usage: "5tuple, src, dst, pair, dport, vni or mirror"},
			&cli.StringFlag{Name: "sort", Value: string(topview.SortRate), Usage: "rate (bits/s), bytes (total) or packets (packets/s)"},
			&cli.StringFlag{Name: "filter", Usage: "filter expression, e.g. 'vni 101 tcp port 443'"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "refresh interval"},
		}, topClickhouseFlags()...),
		Action: runTop,
	}
}

func runTop(c *cli.Context) error {
	if c.String("clickhouse") != "" {
		return runTopClickhouse(c)
	}
	q, err := topQuery(c)
	if err != nil {
		return err
	}
	interval := c.Duration("interval")
	if interval < 100*time.Millisecond {
		return fmt.Errorf("flag --interval: %s is too short (100ms at least)", interval)
	}
	src, err := openTopSource(c.String("iface"), c.String("socket"), interval)
	if err != nil {
		return cli.Exit("vxtap top: "+err.Error(), 1)
	}
	defer src.Close()

	once := c.Bool("once") || c.Bool("json") || !isTerminal(os.Stdout)
	if once {
		if !c.IsSet("n") {
			q.N = 20
		}
		if c.Bool("findings") {
			return findingsOnce(src, q.N, c.Bool("json"))
		}
		return topOnce(src, q, c.Bool("json"), interval)
	}
	m := newTopModel(src, q, c.IsSet("n"), interval)
	m.showFindings = c.Bool("findings")
	if _, err := tea.NewProgram(m, tea.WithAltScreen()).Run(); err != nil {
		return fmt.Errorf("vxtap top: %w", err)
	}
	return nil
}

// topQuery reads --sort, --group, --filter and --n.
func topQuery(c *cli.Context) (topview.Query, error) {
	q := topview.DefaultQuery()
	var err error
	if q.Sort, err = topview.ParseSort(c.String("sort")); err != nil {
		return q, fmt.Errorf("flag --sort: %w", err)
	}
	if q.Group, err = topview.ParseGroup(c.String("group")); err != nil {
		return q, fmt.Errorf("flag --group: %w", err)
	}
	if q.Filter, err = topview.ParseFilter(c.String("filter")); err != nil {
		return q, fmt.Errorf("flag --%w", err)
	}
	q.N = c.Int("n")
	if q.N < 0 || q.N > api.MaxRows {
		return q, fmt.Errorf("flag --n: %d: want 0 (the most, %d) to %d", q.N, api.MaxRows, api.MaxRows)
	}
	return q, nil
}

// topOnce prints one view. Read from pinned maps, it sweeps twice an
// interval apart so the rates are real.
func topOnce(src topSource, q topview.Query, asJSON bool, interval time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := src.Top(ctx, q)
	if err == nil && res.Header.IntervalSeconds == 0 && res.Source == "pinned" {
		time.Sleep(interval)
		res, err = src.Top(ctx, q)
	}
	if err != nil {
		return cli.Exit("vxtap top: "+err.Error(), 1)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err = io.WriteString(os.Stdout, topview.Render(res, terminalWidth(os.Stdout)).String())
	return err
}

// terminalWidth is the width of a terminal, 0 for a file or pipe.
func terminalWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// topSource is where the view comes from: a daemon's API or pinned maps.
type topSource interface {
	Top(ctx context.Context, q topview.Query) (*topview.Result, error)
	Close() error
}

// daemonSource reads a daemon's API.
type daemonSource struct{ c *api.Client }

func (d daemonSource) Top(ctx context.Context, q topview.Query) (*topview.Result, error) {
	return d.c.Top(ctx, q)
}
func (d daemonSource) Close() error { return d.c.Close() }

// openTopSource finds the daemon, or the pinned flow table when no daemon
// answers and the loader wiring can open it.
func openTopSource(iface, socket string, interval time.Duration) (topSource, error) {
	if iface == "" && socket == "" {
		var err error
		if iface, err = guessIface(); err != nil {
			return nil, err
		}
	}
	path := socket
	if path == "" {
		path = topSocket(iface)
	}
	c, err := api.DialPath(path, iface)
	if err == nil {
		return daemonSource{c}, nil
	}
	if !errors.Is(err, api.ErrNoDaemon) || iface == "" || pinnedFlows == nil {
		return nil, err
	}
	if _, serr := os.Stat(loader.PinDir(iface)); errors.Is(serr, fs.ErrNotExist) {
		return nil, err // nothing pinned either
	}
	flows, perr := pinnedFlows(iface)
	if perr != nil {
		return nil, fmt.Errorf("%v; and the pinned maps under %s cannot be read: %v", err, loader.PinDir(iface), perr)
	}
	return newPinnedSource(iface, flows, interval), nil
}

// guessIface picks the interface when there is exactly one daemon, or
// else exactly one interface with pins.
func guessIface() (string, error) {
	socks, _ := filepath.Glob(filepath.Join(api.RunDir(), "*.sock"))
	var names, local []string
	for _, s := range socks {
		key := strings.TrimSuffix(filepath.Base(s), ".sock")
		names = append(names, key)
		if name, ok := ifname.Local(key); ok {
			local = append(local, name)
		}
	}
	switch {
	case len(local) == 1:
		return local[0], nil
	case len(names) == 1: // the one daemon runs in another namespace
		name, _, _ := strings.Cut(names[0], ":ns")
		return name, nil
	case len(names) > 1:
		sort.Strings(names)
		return "", fmt.Errorf("daemons run on %s: pick one with --iface", strings.Join(names, ", "))
	}
	entries, _ := os.ReadDir(loader.PinRoot)
	if len(entries) == 1 && entries[0].IsDir() {
		if name, ok := ifname.Local(entries[0].Name()); ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("no vxtap daemon runs (no socket under %s): start one with `vxtap run --iface IF`, or name the interface with --iface", api.RunDir())
}

// pinnedSource reads the pinned flow table directly, keeping the rates
// itself from its own sweeps.
type pinnedSource struct {
	iface    string
	src      flow.FlowSource
	tr       *rates.Tracker
	meter    topview.DatapathMeter
	interval time.Duration
	last     time.Time
}

func newPinnedSource(iface string, src flow.FlowSource, interval time.Duration) *pinnedSource {
	return &pinnedSource{iface: iface, src: src, tr: rates.New(rates.Config{}), interval: interval}
}

func (p *pinnedSource) Top(_ context.Context, q topview.Query) (*topview.Result, error) {
	// A key press asks again within the interval: reuse the last sweep
	// rather than measure rates over a few milliseconds.
	if now := time.Now(); now.Sub(p.last) >= p.interval/2 {
		if err := p.tr.Sweep(p.src, now); err != nil {
			return nil, fmt.Errorf("read the pinned flow table: %w", err)
		}
		p.last = now
		if cs, ok := p.src.(flow.CounterSource); ok {
			if reasons, flags, err := cs.Counters(); err == nil {
				p.meter.Update(now, reasons, flags)
			}
		}
	}
	var res topview.Result
	p.tr.View(func(s *rates.Snapshot) { res = topview.Build(s, q) })
	res.Iface, res.Source = p.iface, "pinned"
	res.Note = fmt.Sprintf("reading pinned maps under %s (no daemon running)", loader.PinDir(p.iface))
	res.Header.Datapath = p.meter.Datapath()
	return &res, nil
}

func (p *pinnedSource) Close() error {
	if c, ok := p.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// The interactive view.

type topTick time.Time

type topResult struct {
	res *topview.Result
	err error
}

var (
	titleStyle  = lipgloss.NewStyle().Bold(true)
	columnStyle = lipgloss.NewStyle().Reverse(true).Bold(true)
	errStyle    = lipgloss.NewStyle().Foreground(lipgloss.Color("9")).Bold(true)
	hintStyle   = lipgloss.NewStyle().Faint(true)
	cursorStyle = lipgloss.NewStyle().Reverse(true)
	helpStyle   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
)

type topModel struct {
	src      topSource
	q        topview.Query
	fixedN   bool // --n given: show at most that many rows
	interval time.Duration

	width, height int
	res           *topview.Result
	err           error
	paused, help  bool
	editing       bool
	input         []rune // the filter being typed
	filterErr     string
	fetching      bool
	again         bool // the query changed while a fetch was out

	showFindings bool          // the findings pane is open (key f)
	feed         *findingsFeed // the daemon's findings, polled while the pane is open
	findErr      error
	findFetching bool
}

func newTopModel(src topSource, q topview.Query, fixedN bool, interval time.Duration) *topModel {
	return &topModel{src: src, q: q, fixedN: fixedN, interval: interval}
}

func (m *topModel) Init() tea.Cmd { return tea.Batch(m.fetch(), m.tick(), m.pollFindings()) }

// pollFindings asks for the findings changed since the last answer, one
// request at a time, while the pane is open.
func (m *topModel) pollFindings() tea.Cmd {
	if !m.showFindings || m.findFetching {
		return nil
	}
	if m.feed == nil {
		m.feed = newFindingsFeed()
	}
	m.findFetching = true
	return fetchFindings(m.src, m.feed.seq)
}

// paneLines is the height of the findings pane: its title, column names
// and up to half the rows, 0 while closed.
func (m *topModel) paneLines() int {
	if !m.showFindings {
		return 0
	}
	h := m.height
	if h == 0 {
		h = 24
	}
	return max(3, (h-m.chrome())/2+2)
}

func (m *topModel) tick() tea.Cmd {
	return tea.Tick(m.interval, func(t time.Time) tea.Msg { return topTick(t) })
}

// chrome is the lines around the rows: title lines, column names, status.
func (m *topModel) chrome() int {
	n := 5
	if m.res != nil && m.res.Note != "" {
		n++
	}
	return n
}

// rows is how many rows to ask for: what fits, or fewer with --n.
func (m *topModel) rows() int {
	fit := 50
	if m.height > 0 {
		fit = max(1, m.height-m.chrome()-m.paneLines())
	}
	if m.fixedN && m.q.N > 0 && m.q.N < fit {
		return m.q.N
	}
	return fit
}

// fetch asks for the view, one request at a time.
func (m *topModel) fetch() tea.Cmd {
	if m.fetching {
		m.again = true
		return nil
	}
	m.fetching = true
	q := m.q
	q.N = m.rows()
	src := m.src
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := src.Top(ctx, q)
		return topResult{res, err}
	}
}

func (m *topModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, m.fetch()
	case topTick:
		if m.paused {
			return m, m.tick()
		}
		return m, tea.Batch(m.tick(), m.fetch(), m.pollFindings())
	case topFindings:
		m.findFetching = false
		if msg.err != nil {
			m.findErr = msg.err
		} else {
			m.feed.merge(msg.page)
			m.findErr = nil
		}
		return m, nil
	case topResult:
		m.fetching = false
		if msg.err != nil {
			m.err = msg.err // keep the last good view under the error
		} else {
			m.res, m.err = msg.res, nil
		}
		if m.again {
			m.again = false
			return m, m.fetch()
		}
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *topModel) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m, tea.Quit
	}
	if m.editing {
		return m.editKey(k)
	}
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 {
		// Keys typed faster than a read arrive as one message: one at a time.
		var cmds []tea.Cmd
		for i, r := range k.Runes {
			_, cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			cmds = append(cmds, cmd)
			if m.editing { // "/" began a filter: the rest is its text
				m.input = append(m.input, k.Runes[i+1:]...)
				break
			}
		}
		return m, tea.Batch(cmds...)
	}
	if m.help {
		m.help = false
		if k.String() == "q" {
			return m, tea.Quit
		}
		return m, nil
	}
	switch k.String() {
	case "q":
		return m, tea.Quit
	case "s", "S":
		m.q.Sort = topview.Next(topview.Sorts, m.q.Sort, k.String() == "S")
		return m, m.fetch()
	case "g", "G":
		m.q.Group = topview.Next(topview.Groups, m.q.Group, k.String() == "G")
		return m, m.fetch()
	case "/":
		m.editing = true
		m.input = []rune(m.q.Filter.String())
		return m, nil
	case "esc":
		if !m.q.Filter.Empty() {
			m.q.Filter = topview.Filter{}
			return m, m.fetch()
		}
	case "f":
		m.showFindings = !m.showFindings
		return m, tea.Batch(m.fetch(), m.pollFindings())
	case "p", " ":
		m.paused = !m.paused
		if !m.paused {
			return m, m.fetch()
		}
	case "?", "h":
		m.help = true
	}
	return m, nil
}

// editKey edits the filter line: typing, Backspace, Ctrl-U to clear,
// Enter to apply, Esc to cancel.
func (m *topModel) editKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyEnter:
		f, err := topview.ParseFilter(string(m.input))
		if err != nil {
			m.filterErr = err.Error()
			return m, nil
		}
		m.q.Filter, m.editing, m.filterErr = f, false, ""
		return m, m.fetch()
	case tea.KeyEsc:
		m.editing, m.filterErr = false, ""
	case tea.KeyBackspace:
		if len(m.input) > 0 {
			m.input = m.input[:len(m.input)-1]
		}
	case tea.KeyCtrlU:
		m.input = m.input[:0]
	case tea.KeyRunes, tea.KeySpace:
		if len(m.input) < 200 {
			m.input = append(m.input, k.Runes...)
		}
	}
	return m, nil
}

const topHelp = `vxtap top: keys

  q, Ctrl-C  quit
  s / S      next / previous sort: rate (bits/s), bytes (total),
             packets (packets/s)
  g / G      next / previous grouping: 5-tuple, source IP,
             destination IP, pair (both directions),
             destination port, VNI, mirror source
  /          filter, then Enter (Esc cancels); all terms must match:
             vni 42  198.18.0.0/15  src/dst/mirror CIDR
             port 443  sport N  dport N  tcp  udp  icmp  proto 47
  Esc        clear the filter
  f          show / hide the findings pane: the daemon's latest
             findings (severity, type, role, local, remote,
             count, last seen)
  p, Space   pause / resume the refresh
  ?          this help

Fields shown as * differ between the flows of a group.
Press any key to go back.`

func (m *topModel) View() string {
	if m.width == 0 {
		return "vxtap top: connecting..."
	}
	if m.help {
		box := helpStyle.Render(topHelp)
		if lipgloss.Width(box) > m.width || lipgloss.Height(box) > m.height {
			box = topHelp // no room for the frame
		}
		return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, box)
	}
	var b strings.Builder
	lines := 0
	if m.res != nil {
		tab := topview.Render(m.res, m.width)
		for i, l := range tab.Title {
			if i == 0 {
				l = titleStyle.Render(l)
			}
			b.WriteString(l + "\n")
			lines++
		}
		b.WriteString(columnStyle.Render(pad(tab.Columns, m.width)) + "\n")
		lines++
		room := max(0, m.height-lines-1-m.paneLines())
		for i, l := range tab.Rows {
			if i >= room {
				break
			}
			b.WriteString(l + "\n")
			lines++
		}
	} else if m.err == nil {
		b.WriteString("waiting for the first answer...\n")
		lines++
	}
	for ; lines < m.height-1-m.paneLines(); lines++ {
		b.WriteString("\n")
	}
	if pane := m.paneLines(); pane > 0 {
		b.WriteString(m.findingsPane(pane))
	}
	b.WriteString(m.status())
	return b.String()
}

// findingsPane is the pane's lines, exactly n of them.
func (m *topModel) findingsPane(n int) string {
	var lines []string
	switch {
	case m.feed == nil:
		lines = []string{titleStyle.Render("findings: waiting for the daemon...")}
	default:
		tab := topview.FindingsTable(m.feed.list(), time.Now(), max(1, n-2), m.width)
		lines = append(lines, titleStyle.Render(tab.Title[0]), columnStyle.Render(pad(tab.Columns, m.width)))
		lines = append(lines, tab.Rows...)
	}
	if m.findErr != nil {
		msg := []rune(m.findErr.Error())
		if m.width > 0 && len(msg) > m.width {
			msg = msg[:m.width]
		}
		lines = append(lines[:1], errStyle.Render(string(msg)))
	}
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i < len(lines) {
			b.WriteString(lines[i])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// status is the bottom line: the filter being typed, an error, or hints.
func (m *topModel) status() string {
	cutw := func(s string) string {
		if r := []rune(s); len(r) > m.width {
			return string(r[:m.width])
		}
		return s
	}
	switch {
	case m.editing && m.filterErr != "":
		line := "filter: " + string(m.input) + "  "
		return line + errStyle.Render(cutw(m.filterErr))
	case m.editing:
		return cutw("filter: "+string(m.input)) + cursorStyle.Render(" ")
	case m.err != nil:
		return errStyle.Render(cutw(m.err.Error() + " (retrying)"))
	}
	hint := "q quit  s sort  g group  / filter  f findings  p pause  ? help"
	if m.paused {
		hint = "PAUSED (p resumes)  " + hint
	}
	return hintStyle.Render(cutw(hint))
}

func pad(s string, width int) string {
	if n := len([]rune(s)); n < width {
		return s + strings.Repeat(" ", width-n)
	}
	return s
}

// topSocket is the API socket of iface in this network namespace or, when
// there is none and exactly one daemon runs on an interface of that name
// in another namespace (the lab: `vxtap run` inside, `vxtap top` outside),
// that one.
func topSocket(iface string) string {
	path := api.SocketPath(iface)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	entries, _ := os.ReadDir(api.RunDir())
	var other []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, iface+":ns") && strings.HasSuffix(n, ".sock") {
			other = append(other, filepath.Join(api.RunDir(), n))
		}
	}
	if len(other) == 1 {
		return other[0]
	}
	return path
}
