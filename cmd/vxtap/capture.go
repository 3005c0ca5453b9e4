package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/export/pcapng"
	"github.com/vxtap/vxtap/userspace/livecap"
)

func init() { commands = append(commands, captureCommand()) }

// vxtap capture: tcpdump for the mirrored traffic a running daemon sees.
func captureCommand() *cli.Command {
	return &cli.Command{
		Name:  "capture",
		Usage: "capture decapsulated mirror copies from the running daemon to pcapng (as tcpdump does for a plain interface)",
		Description: "The filter (the top view's language: vni N, session NAME, an address or CIDR, src/dst/mirror X,\n" +
			"port/sport/dport N, tcp/udp/icmp, proto N; all terms must match) is compiled into the XDP program,\n" +
			"so only matching copies cross the ring buffer. Each VNI gets a pcapng interface named after its\n" +
			"session; each packet keeps its original length and a comment naming its VNI, mirror source and rule.\n" +
			"Example: vxtap capture --iface eth1 --filter 'session web tcp port 443' -w - | tshark -r -",
		ArgsUsage: "[FILTER WORDS]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: "the daemon's mirror target interface (default: the only one with a daemon)"},
			&cli.StringFlag{Name: "socket", Usage: "API socket (default: " + api.SocketPath("<iface>") + ")"},
			&cli.StringFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter expression, e.g. 'vni 101 tcp port 443' (default: every accounted copy)"},
			&cli.Uint64Flag{Name: "count", Aliases: []string{"c"}, Usage: "stop after this many packets, 0 = until interrupted"},
			&cli.UintFlag{Name: "snaplen", Aliases: []string{"s"}, Usage: fmt.Sprintf("bytes of each inner frame to keep, 0 = the most the data path copies (%d)", livecap.MaxSnapLen)},
			&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Value: "-", Usage: "pcapng file to write, - for standard output (streamed, flushed per batch)"},
		},
		Action: runCapture,
	}
}

func runCapture(c *cli.Context) error {
	expr := c.String("filter")
	if c.NArg() > 0 { // tcpdump style: the filter as the trailing words
		if expr != "" {
			return fmt.Errorf("filter given twice: --filter %q and the arguments %q", expr, strings.Join(c.Args().Slice(), " "))
		}
		expr = strings.Join(c.Args().Slice(), " ")
	}
	if c.String("write") == "-" && isTerminal(os.Stdout) {
		return fmt.Errorf("flag --write: refusing to write pcapng to a terminal: give -w FILE, or pipe it (| tshark -r -)")
	}
	if c.Uint("snaplen") > livecap.MaxSnapLen {
		return fmt.Errorf("flag --snaplen %d: want 0 (the most) to %d", c.Uint("snaplen"), livecap.MaxSnapLen)
	}
	iface, path := c.String("iface"), c.String("socket")
	if iface == "" && path == "" {
		var err error
		if iface, err = guessIface(); err != nil {
			return err
		}
	}
	if path == "" {
		path = api.SocketPath(iface)
	}
	cl, err := api.DialPath(path, iface)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx := context.Background()
	st, err := cl.Capture(ctx, api.CaptureQuery{Filter: expr, SnapLen: uint32(c.Uint("snaplen")), Count: c.Uint64("count")})
	if err != nil {
		var re *api.RequestError
		if errors.As(err, &re) && re.Parameter == "filter" {
			return fmt.Errorf("flag --filter: %s", re.Message)
		}
		return err
	}
	defer st.Close()
	// The file is created once the daemon took the capture: a bad filter
	// or a busy daemon leaves no empty file behind.
	var out io.Writer = os.Stdout
	var file *os.File
	if w := c.String("write"); w != "-" {
		if file, err = os.Create(w); err != nil {
			return fmt.Errorf("flag --write: %w", err)
		}
		defer file.Close()
		out = file
	}
	// Ctrl-C or SIGTERM asks the daemon to end the capture; it still sends
	// its counters. A second signal leaves at once.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(sig)
	go func() {
		<-sig
		st.Stop()
		<-sig
		st.Close()
	}()
	sum, err := writeCapture(livecap.NewReader(st.Body), out)
	if file != nil {
		if cerr := file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("flag --write: %w", cerr)
		}
	}
	fmt.Fprintln(os.Stderr, sum.String())
	return err
}

// captureSummary is what `vxtap capture` tells on standard error at the
// end, as tcpdump does.
type captureSummary struct {
	Written uint64
	End     *livecap.End
}

func (s captureSummary) String() string {
	if s.End == nil {
		return fmt.Sprintf("%d packets captured (the daemon sent no end of capture: its counters are unknown)", s.Written)
	}
	e := s.End
	return fmt.Sprintf("%d packets captured (%s)\n%d packets matched the filter in the data path: %d sent, %d lost (ring buffer full), %d past the count\n%d packets dropped by the daemon because this reader was slow",
		s.Written, e.Reason, e.Counters.Matched, e.Counters.Sent, e.Counters.Lost, e.Counters.OverLimit, e.Dropped)
}

// writeCapture turns the daemon's stream into pcapng on out, flushing
// whenever no further frame is waiting (so a pipe reader sees each batch
// at once).
func writeCapture(r *livecap.Reader, out io.Writer) (captureSummary, error) {
	var sum captureSummary
	bw := bufio.NewWriterSize(out, 64<<10)
	kind, body, err := r.Next()
	if err != nil {
		return sum, fmt.Errorf("capture stream: %w", err)
	}
	if kind != livecap.FrameHeader {
		return sum, fmt.Errorf("capture stream: starts with a %q frame, want a header", kind)
	}
	var h livecap.Header
	if err := json.Unmarshal(body, &h); err != nil {
		return sum, fmt.Errorf("capture stream header: %w", err)
	}
	pw, err := pcapng.NewWriter(bw, h.SnapLen)
	if err != nil {
		return sum, err
	}
	pw.Names = func(vni uint32) string { return h.Sessions[vni] }
	pw.SessionNames = true
	flush := func() error {
		if err := pw.Flush(); err != nil {
			return err
		}
		return bw.Flush()
	}
	if err := flush(); err != nil { // the section header: a reader starts at once
		return sum, fmt.Errorf("write capture: %w", err)
	}
	for {
		kind, body, err := r.Next()
		if err == io.EOF {
			return sum, flush()
		}
		if err != nil {
			flush()
			return sum, fmt.Errorf("capture stream: %w", err)
		}
		switch kind {
		case livecap.FramePacket:
			s, err := livecap.DecodePacket(body)
			if err != nil {
				flush()
				return sum, err
			}
			if err := pw.Write(s); err != nil {
				return sum, fmt.Errorf("write capture: %w", err)
			}
			sum.Written++
		case livecap.FrameEnd:
			var e livecap.End
			if err := json.Unmarshal(body, &e); err != nil {
				return sum, fmt.Errorf("capture stream end: %w", err)
			}
			sum.End = &e
		default:
			return sum, fmt.Errorf("capture stream: unknown frame kind %q", kind)
		}
		if !r.Buffered() {
			if err := flush(); err != nil {
				return sum, fmt.Errorf("write capture: %w", err)
			}
		}
	}
}
