// Command xdpprof shows where a BPF program spends its time, by source
// line: it samples a command with perf (cpu-clock; BPF_PROG_TEST_RUN runs
// the program in the command's own thread), or with -a every CPU while
// the command runs (live traffic: XDP runs in softirq, anywhere), keeps the
// JIT line table of every program of the given name the command loads
// (a program's lines can only be read while it is loaded), then maps each
// sample in those programs back to its function and source line. Samples
// of an instruction that waits (a cache miss, a locked operation) land on
// it or just after it, so a line's share is its cost, stalls included.
//
//	xdpprof [-prog vxtap_xdp] [-top 40] [-freq 20000] [-a] -- command args...
//
// e.g., a new-flow flood (in loader/livebench, with its test binary):
//
//	xdpprof -- ./livebench.test -test.run '^$' \
//	    -test.bench 'BenchmarkXDPTouch/vxlan-ipv4-tcp-new-flow-flood' -test.benchtime 1000000x
//
// Root; needs perf (Debian: linux-perf). No PMU is needed (cpu-clock), so
// it works in a VM.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
)

func main() {
	prog := flag.String("prog", "vxtap_xdp", "name of the program to profile (as bpftool prog shows it)")
	top := flag.Int("top", 40, "source lines to show")
	freq := flag.Int("freq", 20000, "samples per second per CPU")
	all := flag.Bool("a", false, "sample every CPU while the command runs (live XDP), not the command's threads")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: xdpprof [-prog name] [-top n] [-freq hz] -- command args...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*prog, *top, *freq, *all, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "xdpprof:", err)
		os.Exit(1)
	}
}

func run(prog string, top, freq int, all bool, command []string) error {
	if _, err := exec.LookPath("perf"); err != nil {
		return errors.New("perf not found (Debian: apt install linux-perf)")
	}
	dir, err := os.MkdirTemp("", "xdpprof")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "perf.data")
	args := []string{"record", "-q", "-g", "-e", "cpu-clock", "-F", fmt.Sprint(freq), "-o", data}
	if all {
		args = append(args, "-a")
	} else {
		args = append(append(args, "--"), command...) // perf runs the command
	}
	rec := exec.Command("perf", args...)
	rec.Stdout, rec.Stderr, rec.Stdin = os.Stdout, os.Stderr, os.Stdin
	if err := rec.Start(); err != nil {
		return fmt.Errorf("perf record: %w", err)
	}

	jits := &jitMap{}
	var mu sync.Mutex
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { // every loaded program of that name, its line table while it is loaded
		defer close(watched)
		var last ebpf.ProgramID
		done := map[ebpf.ProgramID]bool{}
		for {
			if all {
				last = captureNew(prog, last, jits, &mu)
			} else { // only the command's programs: other processes' may reuse its freed addresses
				for _, id := range heldBy(childOf(rec.Process.Pid)) {
					if !done[id] {
						done[id] = true
						captureID(prog, id, jits, &mu)
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // a program lives far longer than this (its load alone takes more)
			}
		}
	}()
	var cmdErr error
	if all {
		time.Sleep(500 * time.Millisecond) // perf's own start, so the command's first runs are sampled
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
		cmdErr = cmd.Run()
		_ = rec.Process.Signal(syscall.SIGINT)
	}
	recErr := rec.Wait()
	close(stop)
	<-watched
	switch {
	case cmdErr != nil:
		return fmt.Errorf("%s: %w", command[0], cmdErr)
	case recErr != nil && !(all && isSignalExit(recErr)):
		return fmt.Errorf("perf record %s: %w", command[0], recErr)
	}
	if len(jits.funcs) == 0 {
		return fmt.Errorf("no program named %s was loaded while the command ran", prog)
	}
	var out bytes.Buffer
	script := exec.Command("perf", "script", "-i", data, "-F", "ip,sym")
	script.Stdout, script.Stderr = &out, os.Stderr
	if err := script.Run(); err != nil {
		return fmt.Errorf("perf script: %w", err)
	}
	p, err := aggregate(&out, jits)
	if err != nil {
		return err
	}
	p.write(os.Stdout, top)
	return nil
}

// childOf is the first child process of pid, 0 if none (yet).
func childOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	var c int
	fmt.Sscan(string(b), &c)
	return c
}

// heldBy is the IDs of the programs process pid holds a descriptor of
// (its fdinfo's prog_id), read now.
func heldBy(pid int) []ebpf.ProgramID {
	var held []ebpf.ProgramID
	if pid > 0 {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
		for _, fd := range fds {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "prog_id:"); ok {
					var id uint32
					if _, err := fmt.Sscan(v, &id); err == nil {
						held = append(held, ebpf.ProgramID(id))
					}
				}
			}
		}
	}
	return held
}

// isSignalExit: perf record ended by the SIGINT sent to stop it.
func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && (ee.ExitCode() == 130 || ee.ExitCode() == -1)
}

// captureNew adds the line table of every program named prog loaded
// since program ID last (IDs only grow), and returns the newest ID seen.
func captureNew(prog string, last ebpf.ProgramID, jits *jitMap, mu *sync.Mutex) ebpf.ProgramID {
	for id := last; ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return id
		}
		id = next
		captureID(prog, id, jits, mu)
	}
}

// captureID adds the line table of program id when it is named prog. By
// address, not by tag: two loads of one program with other constants
// (rodata) share a tag, but the verifier prunes each differently, so
// their images differ; and a freed image's addresses go to later ones.
func captureID(prog string, id ebpf.ProgramID, jits *jitMap, mu *sync.Mutex) {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return // unloaded meanwhile
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil || info.Name != prog {
		return
	}
	fs, err := linesOf(info)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xdpprof:", err)
		return
	}
	mu.Lock()
	jits.add(fs)
	mu.Unlock()
}

// linesOf reads a loaded program's JIT line table.
func linesOf(info *ebpf.ProgramInfo) ([]*jitFunc, error) {
	ksyms, ok := info.JitedKsymAddrs()
	if !ok {
		return nil, fmt.Errorf("program %s: no JIT addresses (JIT off, or not root?)", info.Name)
	}
	lens, ok := info.JitedFuncLens()
	if !ok || len(lens) != len(ksyms) {
		return nil, fmt.Errorf("program %s: no JIT function sizes", info.Name)
	}
	addrs, ok := info.JitedLineInfos()
	if !ok {
		return nil, fmt.Errorf("program %s: no JIT line info (no BTF?)", info.Name)
	}
	lines, err := info.LineInfos()
	if err != nil {
		return nil, fmt.Errorf("program %s: line info: %w", info.Name, err)
	}
	funcs, err := info.FuncInfos()
	if err != nil {
		return nil, fmt.Errorf("program %s: func info: %w", info.Name, err)
	}
	starts, sizes := make([]uint64, len(ksyms)), make([]uint64, len(ksyms))
	names := make([]string, len(ksyms))
	for i, k := range ksyms {
		starts[i], sizes[i] = uint64(k), uint64(lens[i])
		names[i] = info.Name // the main program: perf names it by the program's name
		if i > 0 && i < len(funcs) {
			names[i] = funcs[i].Func.Name
		}
	}
	n := min(len(addrs), len(lines))
	locs, texts := make([]string, n), make([]string, n)
	for i := range n {
		l := lines[i].Line
		locs[i] = fmt.Sprintf("%s:%d", filepath.Base(l.FileName()), l.LineNumber())
		texts[i] = strings.TrimSpace(l.Line())
	}
	fs, err := jitFuncs(starts, sizes, names, addrs[:n], locs, texts)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", info.Name, err)
	}
	return fs, nil
}
