package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vxtap/vxtap/loader/livebench"
)

// The receivers without XDP: the veth's NAPI loop (GRO on) hands every
// frame to the stack, where a packet socket delivers it to them.

// drainWait lets a userspace capturer read what is still queued in its
// socket when the generator stops, before it is asked for its counts:
// longer than tcpdump's capture timeout (1 s), after which libpcap hands
// over a partly filled ring block.
const drainWait = 1500 * time.Millisecond

// tcpdumpRx is tcpdump writing everything it captures to /dev/null.
type tcpdumpRx struct {
	s   *settings
	dir string
	d   *daemon
}

func (t *tcpdumpRx) start(l *livebench.Lab) error {
	var err error
	if t.dir, err = os.MkdirTemp(t.s.work, "tcpdump-"); err != nil {
		return err
	}
	t.d, err = startDaemon("tcpdump", l.RxNS, t.s.appCPU, nil, filepath.Join(t.dir, "stderr.log"), "listening on",
		"tcpdump", "-i", l.RxIf, "-n", "-w", "/dev/null")
	return err
}

var (
	tcpdumpCaptured = regexp.MustCompile(`(\d+) packets? captured`)
	tcpdumpDropped  = regexp.MustCompile(`(\d+) packets? dropped by kernel`)
)

func (t *tcpdumpRx) finish(l *livebench.Lab) (account, error) {
	defer os.RemoveAll(t.dir)
	time.Sleep(drainWait)
	cpu, _ := procSeconds(t.d.pid())
	if err := t.d.stop(syscall.SIGINT, 30*time.Second); err != nil {
		return account{}, fmt.Errorf("tcpdump: %w: %s", err, t.d.tail())
	}
	out := t.d.tail()
	c, d := tcpdumpCaptured.FindStringSubmatch(out), tcpdumpDropped.FindStringSubmatch(out)
	if c == nil || d == nil {
		return account{}, fmt.Errorf("tcpdump printed no capture statistics: %s", out)
	}
	captured, _ := strconv.ParseUint(c[1], 10, 64)
	dropped, _ := strconv.ParseUint(d[1], 10, 64)
	return account{packets: captured, dropped: dropped, procCPU: cpu, note: "captured; dropped = kernel drops"}, nil
}

// softflowdRx is softflowd (NetFlow v9) exporting to nfcapd on the
// receiver namespace's loopback; what nfdump then reads is its account.
// softflowd opens its capture with no timeout, so libpcap hands it a ring
// block only when the block is full: the last frames of a run would wait
// for more traffic forever. After the count at the interface, filler frames
// to another UDP port (fillerPort) push them through, and only flows to
// the VXLAN port are summed.
type softflowdRx struct {
	s            *settings
	dir          string
	nfcapd, flow *daemon
}

const nfcapdPort = "19995"

func (f *softflowdRx) start(l *livebench.Lab) error {
	var err error
	if f.dir, err = os.MkdirTemp(f.s.work, "softflowd-"); err != nil {
		return err
	}
	flows := filepath.Join(f.dir, "nfcapd")
	if err := os.Mkdir(flows, 0o755); err != nil {
		return err
	}
	if f.nfcapd, err = startDaemon("nfcapd", l.RxNS, f.s.appCPU, nil, filepath.Join(f.dir, "nfcapd.log"), "",
		"nfcapd", "-w", flows, "-b", "127.0.0.1", "-p", nfcapdPort, "-t", "3600", "-P", filepath.Join(f.dir, "nfcapd.pid")); err != nil {
		return err
	}
	f.flow, err = startDaemon("softflowd", l.RxNS, f.s.appCPU, nil, filepath.Join(f.dir, "softflowd.log"), "",
		"softflowd", "-i", l.RxIf, "-n", "127.0.0.1:"+nfcapdPort, "-v", "9", "-d",
		"-c", filepath.Join(f.dir, "ctl"), "-p", filepath.Join(f.dir, "softflowd.pid"), "-t", "maxlife=3600")
	if err != nil {
		f.nfcapd.stop(syscall.SIGTERM, 10*time.Second)
	}
	return err
}

// flushTail: see softflowdRx.
func (f *softflowdRx) flushTail() bool { return true }

func (f *softflowdRx) finish(l *livebench.Lab) (account, error) {
	defer os.RemoveAll(f.dir)
	time.Sleep(drainWait)
	cpu, _ := procSeconds(f.flow.pid())
	var dropped, processed uint64
	if out, err := exec.Command("softflowctl", "-c", filepath.Join(f.dir, "ctl"), "statistics").CombinedOutput(); err == nil {
		dropped = pcapDrops(out)
		if m := processedRe.FindSubmatch(out); m != nil {
			processed, _ = strconv.ParseUint(string(m[1]), 10, 64)
		}
	}
	// shutdown: export every flow, then exit.
	if out, err := exec.Command("softflowctl", "-c", filepath.Join(f.dir, "ctl"), "shutdown").CombinedOutput(); err != nil {
		f.flow.stop(syscall.SIGTERM, 10*time.Second)
		f.nfcapd.stop(syscall.SIGTERM, 10*time.Second)
		return account{}, fmt.Errorf("softflowctl shutdown: %v: %s", err, out)
	}
	errF := f.flow.stop(0, 30*time.Second, 1)              // softflowd exits 1 after a shutdown
	time.Sleep(drainWait)                                  // the last export datagrams reach nfcapd
	errN := f.nfcapd.stop(syscall.SIGTERM, 30*time.Second) // nfcapd writes its file on exit
	if errF != nil || errN != nil {
		return account{}, fmt.Errorf("softflowd: %v; nfcapd: %v", errF, errN)
	}
	out, err := exec.Command("nfdump", "-R", filepath.Join(f.dir, "nfcapd"), "-N", "-q", "-o", "fmt:%pkt",
		fmt.Sprintf("dst port %d", livebench.VXLANPort)).Output()
	if err != nil {
		return account{}, fmt.Errorf("nfdump: %w", err)
	}
	var pkts, flows uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return account{}, fmt.Errorf("nfdump: unexpected line %q", s)
			}
			pkts += n
			flows++
		}
	}
	return account{packets: pkts, dropped: dropped, procCPU: cpu,
		note: fmt.Sprintf("%d NetFlow records; softflowd processed %d (filler included); dropped = pcap drops", flows, processed)}, nil
}

var processedRe = regexp.MustCompile(`Packets processed: (\d+)`)

var pcapDropRe = regexp.MustCompile(`Packets dropped by (?:libpcap|interface): (\d+)`)

// pcapDrops is the packets softflowctl statistics says libpcap and the
// interface dropped.
func pcapDrops(out []byte) uint64 {
	var n uint64
	for _, m := range pcapDropRe.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseUint(string(m[1]), 10, 64)
		n += v
	}
	return n
}
