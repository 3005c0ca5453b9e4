package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vxtap/vxtap/loader"
	"github.com/vxtap/vxtap/userspace/export/clickhouse/chtest"
	"github.com/vxtap/vxtap/userspace/flow"
	"github.com/vxtap/vxtap/userspace/testutil"
	"github.com/vxtap/vxtap/userspace/topview"
	"github.com/vxtap/vxtap/userspace/trafficgen"
)

// fleet is the lab fleet of scripts/fleet-up.sh and its facts.
type fleet struct {
	lab    *trafficgen.Lab
	facts  map[string]string
	nlbNS  string
	prefix string
}

func (f *fleet) appNS(i int) string { return f.facts[fmt.Sprintf("APP%d_NS", i)] }
func (f *fleet) appIf(i int) string { return f.facts[fmt.Sprintf("APP%d_IF", i)] }
func (f *fleet) appV4(i int) string { return f.facts[fmt.Sprintf("APP%d_V4", i)] }

// fleetUp brings up a fleet of two appliances with a fast health check
// (1 s, out after 2 failures, back after 2 passes), torn down when the
// test ends.
func fleetUp(t *testing.T) *fleet {
	t.Helper()
	prefix := os.Getenv("VXTAP_LAB_PREFIX")
	if prefix == "" {
		prefix = fmt.Sprintf("vxf%d", os.Getpid()%100000)
	}
	root := testutil.RepoRoot(t)
	script := func(name string) *exec.Cmd {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", name))
		cmd.Env = append(os.Environ(), "VXTAP_LAB_PREFIX="+prefix, "VXTAP_FLEET_SIZE=2",
			"VXTAP_HEALTH_INTERVAL=1", "VXTAP_HEALTH_UNHEALTHY=2", "VXTAP_HEALTH_HEALTHY=2")
		return cmd
	}
	if out, err := script("fleet-up.sh").CombinedOutput(); err != nil {
		script("fleet-down.sh").Run()
		t.Fatalf("fleet-up.sh: %v\n%s", err, out)
	}
	f := &fleet{prefix: prefix, facts: map[string]string{}}
	t.Cleanup(func() {
		for i := 1; i <= 2; i++ {
			iface := f.appIf(i)
			loader.Detach(iface)
			for _, ext := range []string{".lock", ".json", ".sock"} {
				os.Remove(filepath.Join(runDir, iface+ext))
			}
		}
		if out, err := script("fleet-down.sh").CombinedOutput(); err != nil {
			t.Errorf("fleet-down.sh: %v\n%s", err, out)
		}
		ns, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(ns), prefix+"-") {
			t.Errorf("fleet-down left namespaces behind:\n%s", ns)
		}
	})
	data, err := os.ReadFile(filepath.Join("/run/vxtap-lab", prefix+".fleet.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		f.facts[k] = v
	}
	f.nlbNS = f.facts["NLB_NS"]
	if f.lab, err = trafficgen.LoadLab(prefix); err != nil {
		t.Fatal(err)
	}
	return f
}

// targets is the appliances the NLB's route for the IPv4 mirror target
// leads to and the health checker holds healthy ("" while it holds none:
// the route then keeps them all, failing open).
func (f *fleet) targets(t *testing.T) string {
	out := testutil.Sh(t, "ip -n %s route show %s/32", f.nlbNS, f.facts["VIP_V4"])
	state, _ := os.ReadFile(f.facts["HEALTH_STATE"])
	var got []string
	for i := 1; i <= 2; i++ {
		if strings.Contains(out, "via "+f.appV4(i)+" ") && strings.Contains(string(state), fmt.Sprintf("%d up", i)) {
			got = append(got, strconv.Itoa(i))
		}
	}
	return strings.Join(got, ",")
}

// waitTargets waits until the health checker routes to want ("1,2").
func (f *fleet) waitTargets(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if f.targets(t) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, _ := os.ReadFile(filepath.Join("/run/vxtap-lab", f.prefix+".health.log"))
	t.Fatalf("NLB targets %q after %s, want %q; health log:\n%s", f.targets(t), within, want, st)
}

// startAppliance runs `vxtap run --clickhouse` in appliance i.
func (f *fleet) startAppliance(t *testing.T, bin string, i int, dir, chURL string) *daemonProc {
	t.Helper()
	return startDaemon(t, bin, f.appNS(i), f.appIf(i), filepath.Join(dir, "flows.json"),
		"--listen", f.appV4(i)+":"+f.facts["HEALTH_PORT"], "--instance", fmt.Sprintf("app%d", i), "--config", f.lab.Sessions,
		"--clickhouse", chURL, "--clickhouse-flush-interval", "200ms", "--clickhouse-batch-rows", "20")
}

type counts = map[flow.Key]trafficgen.Count

func addRows(m counts, res *trafficgen.Result) {
	for _, r := range res.Rows {
		c := m[r.Key]
		c.Packets += r.Packets
		c.Bytes += r.Bytes
		m[r.Key] = c
	}
}

// stored is ClickHouse's sums per flow, all appliances together.
func stored(t *testing.T, srv *chtest.Server) counts {
	t.Helper()
	out := srv.MustQuery("SELECT vni, IPv6NumToString(src), IPv6NumToString(dst), proto, sport, dport, sum(packets), sum(bytes) " +
		"FROM vxtap.flows GROUP BY vni, src, dst, proto, sport, dport")
	m := counts{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 8 {
			t.Fatalf("row %q", sc.Text())
		}
		num := func(i int) uint64 {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				t.Fatalf("row %q: %v", sc.Text(), err)
			}
			return n
		}
		k := flow.Key{VNI: uint32(num(0)), Src: netip.MustParseAddr(f[1]).Unmap(), Dst: netip.MustParseAddr(f[2]).Unmap(),
			Proto: uint8(num(3)), SPort: uint16(num(4)), DPort: uint16(num(5))}
		m[k] = trafficgen.Count{Packets: num(6), Bytes: num(7)}
	}
	return m
}

// waitStored waits until ClickHouse holds exactly want, and says what
// differs when it never does.
func waitStored(t *testing.T, srv *chtest.Server, want counts, within time.Duration, flowLogs ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got counts
	for time.Now().Before(deadline) {
		if got = stored(t, srv); equalCounts(got, want) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	for k, w := range want {
		if g := got[k]; g != w {
			t.Errorf("flow %s: stored %d packets %d bytes, sent %d packets %d bytes; its rows:\n%s", k, g.Packets, g.Bytes, w.Packets, w.Bytes,
				srv.MustQuery(fmt.Sprintf("SELECT instance, seq, chunk, ts, packets, bytes, first, last, end_reason FROM vxtap.flows "+
					"WHERE sport = %d AND dport = %d AND proto = %d ORDER BY ts", k.SPort, k.DPort, k.Proto)))
			for _, l := range flowLogs {
				t.Errorf("  flow log %s: %+v", l, sumRecords(t, l)[k])
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("flow %s stored (%d packets) but never sent", k, g.Packets)
		}
	}
	t.FailNow()
}

func equalCounts(a, b counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// vxtapIn runs vxtap in a namespace and returns its stdout.
func vxtapIn(t *testing.T, ns, bin string, args ...string) []byte {
	t.Helper()
	argv := testutil.InNetns(ns, append([]string{bin}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vxtap %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestLabFleetClickHouse: two appliances behind the NLB stand-in, each
// running `vxtap run --clickhouse` into one real ClickHouse server.
// Known traffic from both mirror sources: each appliance sees part of
// it and the sums in ClickHouse equal the generator's counts per flow
// exactly. Then more traffic while ClickHouse is stopped and restarted
// and one appliance is SIGKILLed and restarted (the health check takes
// it out and puts it back): still exact, no record stored twice. Then
// the fleet top view and three report queries against the known
// traffic.
func TestLabFleetClickHouse(t *testing.T) {
	testutil.RequirePrivileged(t)
	bin := vxtapBin(t)
	fl := fleetUp(t)
	srv := chtest.StartIn(t, fl.nlbNS, fl.facts["DB_V4"])
	vxtapIn(t, fl.nlbNS, bin, "db", "init", "--clickhouse", srv.URL())
	dirs := []string{"", t.TempDir(), t.TempDir()}
	apps := []*daemonProc{nil, fl.startAppliance(t, bin, 1, dirs[1], srv.URL()), fl.startAppliance(t, bin, 2, dirs[2], srv.URL())}
	fl.waitTargets(t, "1,2", 15*time.Second)

	// Phase 1: plain.
	want := counts{}
	opt := trafficgen.DefaultOptions()
	opt.Rounds = 2
	res, err := trafficgen.Run(fl.lab, opt)
	if err != nil {
		t.Fatal(err)
	}
	addRows(want, res)
	if len(want) < 40 {
		t.Fatalf("the generator produced only %d flows", len(want))
	}
	waitStored(t, srv, want, 30*time.Second)
	perApp := srv.MustQuery("SELECT instance, count() > 0 FROM vxtap.flows GROUP BY instance ORDER BY instance")
	if perApp != "app1\t1\napp2\t1\n" {
		t.Fatalf("each appliance should have seen part of the traffic: %q", perApp)
	}
	t.Logf("phase 1: %d flows stored exactly, spread over both appliances", len(want))

	// Phase 2: ClickHouse stopped and restarted, appliance 1 killed and
	// restarted, while traffic runs.
	gen := make(chan *trafficgen.Result, 1)
	go func() {
		o := trafficgen.DefaultOptions()
		o.Rounds, o.Duration = 1, 9*time.Second
		r, err := trafficgen.Run(fl.lab, o)
		if err != nil {
			t.Error(err)
		}
		gen <- r
	}()
	time.Sleep(1500 * time.Millisecond)
	srv.Stop()
	time.Sleep(time.Second)
	apps[1].stop(t, syscall.SIGKILL)
	fl.waitTargets(t, "2", 10*time.Second) // the health check took it out
	apps[1] = fl.startAppliance(t, bin, 1, dirs[1], srv.URL())
	time.Sleep(time.Second)
	srv.Restart()
	fl.waitTargets(t, "1,2", 10*time.Second) // and put it back
	if r := <-gen; r != nil {
		addRows(want, r)
	}
	// Phase 3: after the storm.
	if res, err = trafficgen.Run(fl.lab, opt); err != nil {
		t.Fatal(err)
	}
	addRows(want, res)
	// vxtap status shows the sink's spool and inserts.
	if st := string(vxtapIn(t, fl.appNS(2), bin, "status", "--iface", fl.appIf(2))); !strings.Contains(st, "clickhouse: spool ") ||
		!strings.Contains(st, " inserts, ") {
		t.Errorf("vxtap status has no line of the ClickHouse sink:\n%s", st)
	}
	apps[1].stop(t, syscall.SIGTERM)
	apps[2].stop(t, syscall.SIGTERM)
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= 2; i++ {
				t.Logf("appliance %d stderr:\n%s", i, lastLines(apps[i].stderr.String(), 40))
				out, _ := exec.Command("ls", "-la", filepath.Join(dirs[i], "state", "clickhouse-spool")).CombinedOutput()
				seq, _ := os.ReadFile(filepath.Join(dirs[i], "state", "seq.json"))
				t.Logf("appliance %d spool:\n%s\nseq.json %s", i, out, seq)
			}
			errLog, _ := os.ReadFile(filepath.Join(srv.Dir, "log", "err.log"))
			t.Logf("clickhouse err.log:\n%s", lastLines(string(errLog), 30))
		}
	})
	waitStored(t, srv, want, 30*time.Second, filepath.Join(dirs[1], "flows.json"), filepath.Join(dirs[2], "flows.json"))
	if dup := strings.TrimSpace(srv.MustQuery("SELECT count() FROM (SELECT instance, seq, vni, src, dst, proto, sport, dport, count() AS c " +
		"FROM vxtap.flows GROUP BY instance, seq, vni, src, dst, proto, sport, dport HAVING c > 1)")); dup != "0" {
		t.Fatalf("%s records stored twice", dup)
	}
	t.Logf("after ClickHouse and appliance restarts: %d flows stored exactly, none twice", len(want))

	checkFleetTop(t, fl, bin, srv.URL(), want)
	checkReports(t, fl, bin, srv.URL(), want)
}

// checkFleetTop: `vxtap top --clickhouse` per flow, per pair (both
// directions together whichever appliance saw them) and per appliance.
func checkFleetTop(t *testing.T, fl *fleet, bin, url string, want counts) {
	top := func(group string) topview.Result {
		var res topview.Result
		out := vxtapIn(t, fl.nlbNS, bin, "top", "--clickhouse", url, "--since", "15m", "--json", "--n", "0", "--group", group, "--sort", "bytes")
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("top --json: %v\n%s", err, out)
		}
		return res
	}
	res := top("5tuple")
	if len(res.Rows) != len(want) {
		t.Fatalf("fleet top: %d flows, want %d", len(res.Rows), len(want))
	}
	for _, r := range res.Rows {
		k := flow.Key{VNI: *r.VNI, Src: r.Src, Dst: r.Dst, Proto: *r.Proto, SPort: *r.SPort, DPort: *r.DPort}
		if w := want[k]; w.Packets != r.Packets || w.Bytes != r.Bytes || len(r.Appliances) == 0 {
			t.Errorf("fleet top flow %s: %d packets %d bytes by %v, sent %d %d", k, r.Packets, r.Bytes, r.Appliances, w.Packets, w.Bytes)
		}
	}
	pairs := map[[2]netip.Addr]uint64{}
	var total uint64
	for k, c := range want {
		a, b := k.Src, k.Dst
		if b.Less(a) {
			a, b = b, a
		}
		pairs[[2]netip.Addr{a, b}] += c.Bytes
		total += c.Bytes
	}
	res = top("pair")
	split := 0
	for _, r := range res.Rows {
		if got, w := r.Bytes, pairs[[2]netip.Addr{r.Src, r.Dst}]; got != w {
			t.Errorf("fleet top pair %s %s: %d bytes, sent %d", r.Src, r.Dst, got, w)
		}
		if len(r.Appliances) == 2 {
			split++
		}
	}
	if len(res.Rows) != len(pairs) || split == 0 {
		t.Errorf("fleet top pairs: %d rows (want %d), %d seen by both appliances (want some)", len(res.Rows), len(pairs), split)
	}
	res = top("appliance")
	var sum uint64
	for _, r := range res.Rows {
		sum += r.Bytes
	}
	if len(res.Rows) != 2 || sum != total || res.Rows[0].Bytes < res.Rows[1].Bytes {
		t.Errorf("fleet top per appliance: %+v, want 2 rows summing to %d bytes, heaviest first", res.Rows, total)
	}
	table := string(vxtapIn(t, fl.nlbNS, bin, "top", "--clickhouse", url, "--since", "15m", "--once", "--group", "pair"))
	if !strings.Contains(table, "APPLIANCES") || !strings.Contains(table, "app1,app2") {
		t.Errorf("fleet top table has no appliances column:\n%s", table)
	}
}

// checkReports: three questions answered from the store.
func checkReports(t *testing.T, fl *fleet, bin, url string, want counts) {
	src1 := fl.lab.Sources[0]
	report := func(format string, args ...string) []byte {
		return vxtapIn(t, fl.nlbNS, bin, append([]string{"report", "--clickhouse", url, "--since", "1h", "--format", format}, args...)...)
	}
	var doc reportDoc

	// 1. TCP per destination port (JSON).
	if err := json.Unmarshal(report("json", "--group", "dport", "--filter", "tcp"), &doc); err != nil {
		t.Fatal(err)
	}
	byPort := map[uint16]uint64{}
	for k, c := range want {
		if k.Proto == 6 {
			byPort[k.DPort] += c.Bytes
		}
	}
	for _, r := range doc.Rows {
		if r.DPort == nil || byPort[*r.DPort] != r.Bytes {
			t.Errorf("report dport: row %+v, want %d bytes", r, byPort[deref(r.DPort)])
		}
	}
	if len(doc.Rows) != len(byPort) {
		t.Errorf("report dport: %d rows, want %d", len(doc.Rows), len(byPort))
	}

	// 2. Who talked to source 1's peer, per source address, how much (CSV).
	bySrc := map[netip.Addr][2]uint64{}
	for k, c := range want {
		if k.Dst == src1.PeerV4 {
			v := bySrc[k.Src]
			bySrc[k.Src] = [2]uint64{v[0] + c.Packets, v[1] + c.Bytes}
		}
	}
	recs, err := csv.NewReader(strings.NewReader(string(report("csv", "--group", "src", "--filter", "dst "+src1.PeerV4.String())))).ReadAll()
	if err != nil || len(recs) != len(bySrc)+1 || recs[0][3] != "source" {
		t.Fatalf("report src csv: %v %q (want %d rows)", err, recs, len(bySrc))
	}
	for _, r := range recs[1:] {
		w := bySrc[netip.MustParseAddr(r[3])]
		if r[10] != fmt.Sprint(w[0]) || r[11] != fmt.Sprint(w[1]) {
			t.Errorf("report src %s: %s packets %s bytes, want %d %d", r[3], r[10], r[11], w[0], w[1])
		}
	}

	// 3. UDP of VNI 102 per conversation, both directions (JSON).
	doc = reportDoc{}
	if err := json.Unmarshal(report("json", "--group", "pair", "--filter", "vni 102 udp"), &doc); err != nil {
		t.Fatal(err)
	}
	byPair := map[[2]netip.Addr]uint64{}
	for k, c := range want {
		if k.VNI == 102 && k.Proto == 17 {
			a, b := k.Src, k.Dst
			if b.Less(a) {
				a, b = b, a
			}
			byPair[[2]netip.Addr{a, b}] += c.Packets
		}
	}
	for _, r := range doc.Rows {
		if byPair[[2]netip.Addr{r.Src, r.Dst}] != r.Packets {
			t.Errorf("report pair %s %s: %d packets, want %d", r.Src, r.Dst, r.Packets, byPair[[2]netip.Addr{r.Src, r.Dst}])
		}
	}
	if len(doc.Rows) != len(byPair) || len(byPair) == 0 {
		t.Errorf("report pair: %d rows, want %d", len(doc.Rows), len(byPair))
	}

	// A window before the traffic holds nothing.
	doc = reportDoc{}
	if err := json.Unmarshal(report("json", "--since", "3h", "--until", "2h"), &doc); err != nil || len(doc.Rows) != 0 {
		t.Errorf("report of an empty window: %v %+v", err, doc.Rows)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
