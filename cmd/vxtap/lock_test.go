package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/testutil"
)

// privateRunDir points runDir at a fresh directory others may traverse
// (0755), as /run/vxtap is.
func privateRunDir(t *testing.T) string {
	t.Helper()
	old := runDir
	dir := t.TempDir()
	runDir = filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { runDir = old })
	return runDir
}

// TestInstanceLockForeignHolder: an unprivileged user holding a shared
// flock on a lock file an older vxtap made 0644 used to block every
// restart ("already running (pid <dead>)"). Now the file is replaced by a
// 0600 one of ours, the lock is taken, and the new file cannot even be
// opened by that user.
func TestInstanceLockForeignHolder(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := privateRunDir(t)
	path := filepath.Join(dir, "eth9.lock")
	if err := os.WriteFile(path, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "flock", "-s", path, "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for deadline := time.Now().Add(5 * time.Second); len(lockHolders(f)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the unprivileged holder never took its flock")
		}
		time.Sleep(20 * time.Millisecond)
	}

	l, err := lockInstance("eth9")
	if err != nil {
		t.Fatalf("a foreign shared flock blocked the lock: %v", err)
	}
	defer l.release()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o600 || int(st.Uid) != os.Geteuid() || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Errorf("lock file mode %o uid %d: want a regular 0600 file of ours", st.Mode, st.Uid)
	}
	out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "flock", "-n", "-s", path, "true").CombinedOutput()
	if err == nil {
		t.Errorf("user nobody could open and lock the new lock file: %s", out)
	}
}

// TestInstanceLockSymlink: a symlink planted at the lock path is replaced,
// never followed: its target is neither truncated nor written.
func TestInstanceLockSymlink(t *testing.T) {
	dir := privateRunDir(t)
	target := filepath.Join(filepath.Dir(dir), "precious")
	if err := os.WriteFile(target, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "eth9.lock")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	l, err := lockInstance("eth9")
	if err != nil {
		t.Fatalf("lock with a planted symlink: %v", err)
	}
	defer l.release()
	if b, _ := os.ReadFile(target); string(b) != "keep me" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("lock path is not a regular file: %v %v", fi, err)
	}
}

// TestInstanceLockHeldByUs: a lock held by an instance of ours is
// respected, and the message names the holder from the kernel's lock
// table, not a pid left in the file.
func TestInstanceLockHeldByUs(t *testing.T) {
	dir := privateRunDir(t)
	l, err := lockInstance("eth9")
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	os.WriteFile(filepath.Join(dir, "eth9.lock"), []byte("999999\n"), 0o600) // a lie in the file
	_, err = lockInstance("eth9")
	if err == nil || !strings.Contains(err.Error(), "already running") || strings.Contains(err.Error(), "999999") {
		t.Fatalf("second lock: %v", err)
	}
}

// TestRunDirRefused: a run directory others may write to is refused
// (they could swap lock, state and socket files there).
func TestRunDirRefused(t *testing.T) {
	dir := privateRunDir(t)
	os.Chmod(dir, 0o777)
	if _, err := lockInstance("eth9"); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("lock in a world-writable run directory: %v", err)
	}
}

// TestTwoNamespacesSameIface: two appliances, each in its own network
// namespace with an interface of the same name, run at once: lock, state
// file, socket and pins are keyed by namespace, so neither refuses the
// other nor takes its pins; both stop cleanly and leave nothing.
func TestTwoNamespacesSameIface(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	var procs []*daemonProc
	var nss []string
	for _, base := range []string{"vxhc-ns1", "vxhc-ns2"} {
		ns := testutil.Netns(t, base)
		testutil.Sh(t, "ip -n %s link add vxsame0 type veth peer name vxsame1 && ip -n %s link set vxsame0 up && ip -n %s link set vxsame1 up", ns, ns, ns)
		cleanupIn(t, ns, "vxsame0")
		nss = append(nss, ns)
	}
	for _, ns := range nss { // the same port in each: the namespaces are apart
		procs = append(procs, startDaemon(t, bin, ns, "vxsame0", filepath.Join(t.TempDir(), "flows.json"), "--listen", "127.0.0.1:9791"))
	}
	// A second instance in one namespace is told who runs there (the lock
	// is taken before --listen is bound), and changes nothing.
	out, err := inNsCmd(nss[0], bin, "run", "--iface", "vxsame0", "--listen", "127.0.0.1:9791").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running on vxsame0") {
		t.Errorf("second instance: %v %q", err, out)
	}
	for i, ns := range nss {
		if !pinnedIn(t, ns, "vxsame0") {
			t.Errorf("daemon %d: nothing pinned for its namespace", i)
		}
		if _, err := os.Stat(filepath.Join(runDir, nsKey(t, ns, "vxsame0")+".sock")); err != nil {
			t.Errorf("daemon %d: no API socket of its own: %v", i, err)
		}
		if link := testutil.Sh(t, "ip -n %s link show vxsame0", ns); !strings.Contains(link, "prog/xdp") {
			t.Errorf("daemon %d: no XDP program on its interface:\n%s", i, link)
		}
	}
	for i, p := range procs {
		p.stop(t, syscall.SIGTERM)
		if pinnedIn(t, nss[i], "vxsame0") {
			t.Errorf("daemon %d left its pins", i)
		}
	}
}

// TestInstanceLockServiceUser: root (an operator's `vxtap detach`)
// respects the lock of a daemon running as the service user: a 0600 file
// of that user, held by it, is an instance, not a foreign holder.
func TestInstanceLockServiceUser(t *testing.T) {
	testutil.RequirePrivileged(t)
	dir := privateRunDir(t)
	path := filepath.Join(dir, "eth9.lock")
	for _, mode := range []os.FileMode{0o600, 0o644} { // 0644: what an older vxtap made
		os.Remove(path)
		if err := os.WriteFile(path, nil, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		testutil.Sh(t, "chown nobody %s", path)
		holder := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "flock", "-x", path, "sleep", "60")
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); len(lockHolders(f)) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the service user's holder never took its flock")
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.Close()
		_, err = lockInstance("eth9")
		holder.Process.Kill()
		holder.Wait()
		if err == nil || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), strconv.Itoa(holder.Process.Pid)) {
			t.Fatalf("mode %o: the service user's lock was not respected: %v", mode, err)
		}
	}
}
