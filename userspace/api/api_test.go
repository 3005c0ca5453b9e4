package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/userspace/api"
	"github.com/vxtap/vxtap/userspace/api/apitest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/topview"
)

const nobody = 65534

// serve starts a server with the lab flows on a socket in a fresh
// directory others may enter (for the tests that connect as nobody).
func serve(t *testing.T, group string) (*api.Server, *apitest.Fake) {
	t.Helper()
	t.Cleanup(api.SetGroupName(group))
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fake := apitest.NewFake("eth0")
	fake.SetFlows(apitest.LabFlows())
	fake.SetCounters([]flow.Counter{{Name: "flow", Class: flow.ClassAccounted, Packets: 100}, {Name: "short_vxlan", Class: flow.ClassMalformed, Packets: 2}},
		[]flow.Counter{{Name: "ringbuf_full", Class: flow.ClassLost, Packets: 3}})
	s, err := api.ListenPath(filepath.Join(dir, "eth0.sock"), "eth0", fake)
	if err != nil {
		t.Fatal(err)
	}
	s.CounterInterval = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, fake
}

func TestSocketModeAndOwner(t *testing.T) {
	tests := []struct {
		name       string
		group      string
		privileged bool
		mode       fs.FileMode
		gid        int // -1: any
	}{
		{"no vxtap group: owner only", "vxtap-no-such-group", false, 0o600, -1},
		{"group exists: root and the group", "nogroup", true, 0o660, nobody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.privileged {
				testutil.RequirePrivileged(t)
			}
			s, _ := serve(t, tc.group)
			fi, err := os.Lstat(s.Path())
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != tc.mode {
				t.Errorf("socket mode %v, want socket with %v", fi.Mode(), tc.mode)
			}
			if int(st.Uid) != os.Geteuid() {
				t.Errorf("socket owner uid %d, want %d", st.Uid, os.Geteuid())
			}
			if tc.gid >= 0 && int(st.Gid) != tc.gid {
				t.Errorf("socket group %d, want %d", st.Gid, tc.gid)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(s.Path()), ".sock-*"))
			if len(left) > 0 {
				t.Errorf("temporary bind directories left: %v", left)
			}
		})
	}
}

// TestHelperClient is the client run as another user by
// TestOtherUsersRefused; it is a no-op in a normal run.
func TestHelperClient(t *testing.T) {
	path := os.Getenv("VXTAP_API_HELPER_SOCKET")
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := api.DialPath(path, "eth0")
	if err == nil {
		var st *api.Status
		st, err = c.Status(context.Background())
		if err == nil {
			fmt.Printf("RESULT ok %s\n", st.Iface)
			return
		}
	}
	fmt.Printf("RESULT permission=%v %v\n", errors.Is(err, fs.ErrPermission), err)
}

// A client running as nobody is kept out by the socket's mode, and by the
// peer check when the mode is opened up; group members get in.
func TestOtherUsersRefused(t *testing.T) {
	testutil.RequirePrivileged(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	os.Chmod(binDir, 0o755)
	os.Chmod(filepath.Dir(binDir), 0o755)
	bin := filepath.Join(binDir, "api.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		group  string
		chmod  fs.FileMode // 0: leave the mode as created
		groups []uint32    // the client's supplementary groups
		want   string
	}{
		{name: "mode 0600 keeps nobody out", group: "vxtap-no-such-group",
			want: "RESULT permission=true permission denied on SOCK: the socket is not open to this user (run as root or as a member of group vxtap)"},
		{name: "the peer check refuses nobody on an open socket", group: "vxtap-no-such-group", chmod: 0o666,
			want: "RESULT permission=true permission denied on SOCK: the daemon refused: uid 65534 may not use the vxtap API: only root (run as root or as a member of group vxtap)"},
		{name: "the peer check refuses a non-member", group: "users", chmod: 0o666,
			want: "RESULT permission=true permission denied on SOCK: the daemon refused: uid 65534 may not use the vxtap API: only root or members of group users (run as root or as a member of group vxtap)"},
		{name: "primary group member gets in", group: "nogroup", want: "RESULT ok eth0"},
		{name: "supplementary group member gets in", group: "users", groups: []uint32{100}, want: "RESULT ok eth0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serve(t, tc.group)
			if tc.chmod != 0 {
				if err := os.Chmod(s.Path(), tc.chmod); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "-test.run=^TestHelperClient$", "-test.v=false")
			cmd.Env = append(os.Environ(), "VXTAP_API_HELPER_SOCKET="+s.Path())
			cmd.Dir = "/"
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: tc.groups}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper as nobody: %v\n%s", err, out)
			}
			var got string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "RESULT ") {
					got = strings.ReplaceAll(l, s.Path(), "SOCK")
				}
			}
			if got != tc.want {
				t.Errorf("as nobody:\n got %q\nwant %q\n(output %s)", got, tc.want, out)
			}
		})
	}
}

// errorBody is the API's error JSON.
type errorBody struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter"`
}

// rawGet sends a request over the socket without the client's checks.
func rawGet(t *testing.T, path, method, target string) (int, errorBody) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	req, _ := http.NewRequest(method, "http://vxtap"+target, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var eb errorBody
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: content type %q", method, target, ct)
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Errorf("%s %s: body is not JSON: %q", method, target, body)
	}
	return resp.StatusCode, eb
}

func TestMalformedRequests(t *testing.T) {
	s, _ := serve(t, "vxtap-no-such-group")
	tests := []struct {
		method, target string
		code           int
		param, want    string
	}{
		{"GET", "/v1/top?sort=speed", 400, "sort", `parameter sort: unknown sort "speed": want one of rate, bytes, packets`},
		{"GET", "/v1/top?group=asn", 400, "group", `parameter group: unknown grouping "asn"`},
		{"GET", "/v1/top?n=-1", 400, "n", `parameter n: "-1": want a whole number from 0 (the most, 10000) to 10000`},
		{"GET", "/v1/top?n=ten", 400, "n", `parameter n: "ten": want a whole number`},
		{"GET", "/v1/top?n=10001", 400, "n", `parameter n: "10001"`},
		{"GET", "/v1/top?filter=%zz", 400, "filter", `parameter filter: bad %-escape in "%zz"`},
		{"GET", "/v1/top?filter=tcp&sort=%", 400, "sort", `parameter sort: bad %-escape in "%"`},
		{"GET", "/v1/top?%zz=1", 400, "%zz", `parameter %zz: bad %-escape in the name`},
		{"GET", "/v1/top?filter=tcp;sort=bytes", 400, "filter", `parameter filter: ";" separates nothing here: join parameters with &`},
		{"GET", "/v1/status?%zz", 400, "", "/v1/status takes no parameters"},
		{"GET", "/v1/top?n=1&n=2", 400, "n", `parameter n: given more than once`},
		{"GET", "/v1/top?filter=bogus", 400, "filter", `parameter filter: unknown term "bogus"`},
		{"GET", "/v1/top?filter=vni", 400, "filter", `parameter filter: "vni" needs a value after it`},
		{"GET", "/v1/top?filter=443", 400, "filter", `parameter filter: bare number "443": say port 443, vni 443 or proto 443`},
		{"GET", "/v1/top?limit=5", 400, "limit", `parameter limit: unknown parameter "limit": want sort, group, n or filter`},
		{"GET", "/v1/status?verbose=1", 400, "", "/v1/status takes no parameters"},
		{"GET", "/v1/counters?x", 400, "", "/v1/counters takes no parameters"},
		{"GET", "/v2/top", 404, "", "no endpoint /v2/top: want /v1/top, /v1/status, /v1/counters, /v1/findings or /v1/capture"},
		{"POST", "/v1/top", 405, "", "method POST not allowed: the API is read-only (GET)"},
		{"DELETE", "/v1/status", 405, "", "method DELETE not allowed"},
	}
	for _, tc := range tests {
		code, eb := rawGet(t, s.Path(), tc.method, tc.target)
		if code != tc.code || eb.Parameter != tc.param || !strings.HasPrefix(eb.Error, tc.want) {
			t.Errorf("%s %s: %d %+v; want %d, parameter %q, error starting %q", tc.method, tc.target, code, eb, tc.code, tc.param, tc.want)
		}
	}
	// The client surfaces the daemon's words and the parameter.
	c, err := api.DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Top(context.Background(), topview.Query{Sort: "speed"})
	var re *api.RequestError
	if !errors.As(err, &re) || re.Code != 400 || re.Parameter != "sort" ||
		err.Error() != `vxtap daemon: parameter sort: unknown sort "speed": want one of rate, bytes, packets` {
		t.Errorf("client error %v", err)
	}
}

func TestTopStatusCounters(t *testing.T) {
	s, _ := serve(t, "vxtap-no-such-group")
	c, err := api.DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	udp, _ := topview.ParseFilter("udp")
	tests := []struct {
		q         topview.Query
		wantFirst string // source of the first row, "*" when it differs
		rows      int
	}{
		{topview.Query{Sort: topview.SortRate, Group: topview.GroupFlow, N: 10}, "198.18.1.10", 5},
		{topview.Query{Sort: topview.SortBytes, Group: topview.GroupFlow, N: 10}, "198.18.1.11", 5},
		{topview.Query{Sort: topview.SortPackets, Group: topview.GroupFlow, N: 2}, "198.18.2.10", 2},
		{topview.Query{Sort: topview.SortRate, Group: topview.GroupVNI}, "*", 2},
		{topview.Query{Sort: topview.SortRate, Group: topview.GroupSrc, N: 0}, "198.18.1.10", 4},
		{topview.Query{Filter: udp}, "198.18.2.10", 1},
	}
	for _, tc := range tests {
		res, err := c.Top(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != tc.rows {
			t.Errorf("%+v: %d rows, want %d", tc.q, len(res.Rows), tc.rows)
			continue
		}
		if got := res.Rows[0].Src; (tc.wantFirst == "*" && got.IsValid()) || (tc.wantFirst != "*" && got.String() != tc.wantFirst) {
			t.Errorf("%+v: first row from %v, want %s", tc.q, got, tc.wantFirst)
		}
		if res.Iface != "eth0" || res.Source != "daemon" || res.Header.Flows != 5 {
			t.Errorf("header: iface %q source %q flows %d", res.Iface, res.Source, res.Header.Flows)
		}
	}
	res, err := c.Top(ctx, topview.DefaultQuery())
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Header.Datapath; d == nil || d.MirrorPackets != 102 || d.Drops != 2 || d.RingLost != 3 {
		t.Errorf("datapath header %+v", d)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Iface != "eth0" || st.PID != 4242 || st.Flows != 5 || !st.Healthy {
		t.Errorf("status %+v, %v", st, err)
	}
	cs, err := c.Counters(ctx)
	if err != nil || len(cs.Reasons) != 2 || cs.Reasons[1] != (api.Counter{Name: "short_vxlan", Packets: 2}) || cs.Flags[0].Name != "ringbuf_full" {
		t.Errorf("counters %+v, %v", cs, err)
	}
}

func TestCountersError(t *testing.T) {
	s, fake := serve(t, "vxtap-no-such-group")
	fake.FailCounters(errors.New("map gone"))
	code, eb := rawGet(t, s.Path(), "GET", "/v1/counters")
	if code != 500 || eb.Error != "read data path counters: map gone" {
		t.Errorf("%d %+v", code, eb)
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "eth9.sock")
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	tests := []struct {
		path, iface, want string
	}{
		{missing, "eth9", "no vxtap daemon on eth9: " + missing + " does not exist (is `vxtap run --iface eth9` running?)"},
		{missing, "", "no vxtap daemon at " + missing + ": it does not exist"},
		{stale, "eth9", "no vxtap daemon on eth9: " + stale + " refuses connections (left behind by a daemon that exited) (is `vxtap run --iface eth9` running?)"},
	}
	for _, tc := range tests {
		_, err := api.DialPath(tc.path, tc.iface)
		if err == nil || err.Error() != tc.want || !errors.Is(err, api.ErrNoDaemon) {
			t.Errorf("api.DialPath(%s): %v\nwant %s", tc.path, err, tc.want)
		}
	}
	t.Setenv("VXTAP_RUN_DIR", dir)
	if _, err := api.Dial("eth9"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("api.Dial(eth9) does not look in $VXTAP_RUN_DIR: %v", err)
	}
}

// A daemon that goes away mid-session gives the client a clear error.
func TestDaemonVanishes(t *testing.T) {
	s, _ := serve(t, "vxtap-no-such-group")
	c, err := api.DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Top(context.Background(), topview.DefaultQuery()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = c.Top(context.Background(), topview.DefaultQuery())
	if !errors.Is(err, api.ErrNoDaemon) || !strings.HasPrefix(err.Error(), "no vxtap daemon on eth0: ") {
		t.Errorf("after the daemon left: %v", err)
	}
}

func TestListenTwiceAndStale(t *testing.T) {
	s, fake := serve(t, "vxtap-no-such-group")
	if _, err := api.ListenPath(s.Path(), "eth0", fake); err == nil || !strings.Contains(err.Error(), "another vxtap daemon answers on it") {
		t.Errorf("second server on a live socket: %v", err)
	}
	s.Close()
	if _, err := os.Lstat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close left the socket: %v", err)
	}
	// A dead daemon's socket is replaced.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.Path(), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	s2, err := api.ListenPath(s.Path(), "eth0", fake)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s2.Close()
	// Something that is not a socket is left alone.
	os.WriteFile(s.Path(), []byte("x"), 0o600)
	if _, err := api.ListenPath(s.Path(), "eth0", fake); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("regular file in the way: %v", err)
	}
}

// named is the fake daemon with mirror sessions configured for VNI 101.
type named struct{ *apitest.Fake }

func (named) SessionName(vni uint32) string {
	if vni == 101 {
		return "lab-src1"
	}
	return ""
}

// TestTopSessionNames: rows of /v1/top carry the session of their VNI
// when the daemon knows one.
func TestTopSessionNames(t *testing.T) {
	fake := apitest.NewFake("eth0")
	fake.SetFlows(apitest.LabFlows())
	s, err := api.ListenPath(filepath.Join(t.TempDir(), "eth0.sock"), "eth0", named{fake})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() { s.Close(); <-done }()
	c, err := api.DialPath(s.Path(), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Top(context.Background(), topview.Query{Sort: topview.SortRate, Group: topview.GroupVNI})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range res.Rows {
		want := ""
		if *r.VNI == 101 {
			want = "lab-src1"
			seen++
		}
		if r.Session != want {
			t.Errorf("vni %d: session %q, want %q", *r.VNI, r.Session, want)
		}
	}
	if seen == 0 {
		t.Error("no row of VNI 101")
	}
	if out := topview.Render(res, 0).String(); !strings.Contains(out, "101 lab-src1") {
		t.Errorf("the table does not show the session next to the VNI:\n%s", out)
	}
}
