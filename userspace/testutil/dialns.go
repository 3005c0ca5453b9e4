package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// DialInNetns returns a dial function whose sockets live in namespace
// ns, so a test in the host namespace reaches servers it started there
// (on 127.0.0.1 or 198.18.x).
func DialInNetns(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := doInNetns(ns, func() (err error) {
			var d net.Dialer
			conn, err = d.DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// ListenInNetns opens a TCP listener inside namespace ns.
func ListenInNetns(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := doInNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// ListenPacketInNetns opens a UDP socket bound inside namespace ns.
func ListenPacketInNetns(ns, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := doInNetns(ns, func() (err error) {
		c, err = net.ListenPacket("udp", addr)
		return err
	})
	return c, err
}

// doInNetns runs fn on a thread moved into namespace ns and back: the
// sockets fn makes stay in ns for life.
func doInNetns(ns string, fn func() error) error {
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		var leave func() error
		if leave, err = enterNetns(ns); err != nil {
			return
		}
		err = fn()
		leave() // failing, the thread ends with this goroutine (enterNetns)
	}()
	<-done
	return err
}

// EnterNetns moves the calling goroutine (its thread locked to it) into
// namespace ns until the returned function moves it back: for a test
// whose body must run there and may call t.Fatal, which DoInNetns's
// goroutine may not.
func EnterNetns(t testing.TB, ns string) (leave func()) {
	t.Helper()
	back, err := enterNetns(ns)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := back(); err != nil {
			t.Error(err)
		}
	}
}

// enterNetns moves the calling goroutine's thread, locked to it, into
// namespace ns; leave moves it back and unlocks it. A thread that cannot
// go back stays locked, so it ends with its goroutine instead of serving
// others in ns.
func enterNetns(ns string) (leave func() error, err error) {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	target, err := os.Open("/run/netns/" + ns)
	if err == nil {
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		target.Close()
		if err != nil {
			err = fmt.Errorf("setns %s: %w", ns, err)
		}
	}
	if err != nil { // still in the original namespace
		orig.Close()
		runtime.UnlockOSThread()
		return nil, err
	}
	return func() error {
		defer orig.Close()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns back from %s: %w", ns, err)
		}
		runtime.UnlockOSThread()
		return nil
	}, nil
}

// RequireTool finds a program the test cannot do without; missing, it
// skips the test, or fails it under VXTAP_REQUIRE_PRIVILEGED=1 (CI
// installs every such tool with scripts/deps.sh).
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatalf("%s not installed (scripts/deps.sh installs package %s)", name, pkg)
	}
	t.Skipf("%s not installed (package %s)", name, pkg)
	return ""
}

// Server is a program a test started inside a network namespace.
type Server struct {
	Cmd    *exec.Cmd
	out    lockedWriter // stdout and stderr
	exited chan struct{}
}

// Output is what the server printed so far (stdout and stderr).
func (s *Server) Output() string {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.b.String()
}

// lockedWriter collects output written from two pipes at once.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// StartInNetns starts argv in namespace ns; the test's cleanup kills it
// by PID if it is still running.
func StartInNetns(t testing.TB, ns string, argv ...string) *Server {
	t.Helper()
	full := InNetns(ns, argv...)
	s := &Server{Cmd: exec.Command(full[0], full[1:]...), exited: make(chan struct{})}
	s.Cmd.Stdout, s.Cmd.Stderr = &s.out, &s.out
	if err := s.Cmd.Start(); err != nil {
		t.Fatalf("%s: %v", Quote(argv), err)
	}
	go func() { s.Cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.Cmd.Process.Kill()
			<-s.exited
		}
	})
	return s
}

// Stop sends sig and waits up to timeout for the server to exit.
func (s *Server) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	s.Cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit %v after %v\n%s", s.Cmd.Args, timeout, sig, s.Output())
	}
}

// WaitListening waits until something in ns listens on port (proto
// "udp" or "tcp"), or fails the test after timeout.
func WaitListening(t testing.TB, ns, proto string, port int, timeout time.Duration) {
	t.Helper()
	flag := map[string]string{"udp": "-Hunl", "tcp": "-Htnl"}[proto]
	deadline := time.Now().Add(timeout)
	for {
		argv := InNetns(ns, "ss", flag, fmt.Sprintf("sport = :%d", port))
		out, _ := exec.Command(argv[0], argv[1:]...).Output()
		if strings.TrimSpace(string(out)) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s port %d in %s after %v", proto, port, ns, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
