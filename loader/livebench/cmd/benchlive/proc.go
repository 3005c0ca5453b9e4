package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vxtap/vxtap/loader/livebench"
)

// daemon is a receiver process started inside the receiver namespace,
// pinned to the application CPU, its stderr kept in a file.
type daemon struct {
	name   string
	cmd    *exec.Cmd
	errLog string
	done   chan error
}

// startDaemon runs argv in ns (nsenter execs it: the PID is the
// program's), pinned to cpu when cpu >= 0, and waits until its stderr
// shows ready (or it exits, or 60 s pass); ready "" waits half a second.
func startDaemon(name, ns string, cpu int, env []string, errLog, ready string, argv ...string) (*daemon, error) {
	full := append([]string{"nsenter", "--net=" + livebench.NSPath(ns)}, argv...)
	if cpu >= 0 {
		full = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, full...)
	}
	f, err := os.Create(errLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := &daemon{name: name, errLog: errLog, done: make(chan error, 1)}
	d.cmd = exec.Command(full[0], full[1:]...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stderr = f
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	if ready == "" { // a program that says nothing when ready: give it a moment
		time.Sleep(500 * time.Millisecond)
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("%s exited at start (%v): %s", name, err, d.tail())
		default:
			return d, nil
		}
	}
	// Bounded: 60 s of 50 ms polls.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case err := <-d.done:
			d.done <- err
			return nil, fmt.Errorf("%s exited before it was ready (%v): %s", name, err, d.tail())
		default:
		}
		if b, _ := os.ReadFile(errLog); strings.Contains(string(b), ready) {
			return d, nil
		}
	}
	d.stop(syscall.SIGKILL, time.Second)
	return nil, fmt.Errorf("%s not ready after 60 s: %s", name, d.tail())
}

// pid is the daemon's process id (taskset and nsenter exec in place).
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop signals the daemon and waits up to wait for it, then kills it.
// Exit codes in ok are a clean stop too (softflowd exits 1 on shutdown).
func (d *daemon) stop(sig syscall.Signal, wait time.Duration, ok ...int) error {
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && slices.Contains(ok, ee.ExitCode()) {
			err = nil
		}
		return err
	case <-time.After(wait):
		d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not stop within %s after %v: killed", d.name, wait, sig)
	}
}

// tail is the end of the daemon's stderr, for error messages.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(d.errLog)
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return strings.TrimSpace(string(b))
}
