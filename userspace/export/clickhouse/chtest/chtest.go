// Package chtest starts a real ClickHouse server (Debian's
// clickhouse-server) for tests: its own config and data directory under
// the test's temp dir, on free loopback ports, stopped by PID.
package chtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one test ClickHouse server.
type Server struct {
	t        testing.TB
	Dir      string
	Netns    string // the network namespace it runs in, "" = the test's own
	Host     string // the address it listens on
	TCPPort  int
	HTTPPort int
	cmd      *exec.Cmd
}

// URL is the native-protocol URL vxtap takes.
func (s *Server) URL() string { return fmt.Sprintf("clickhouse://%s:%d", s.Host, s.TCPPort) }

// Binary finds clickhouse-server. A missing server skips the test, or
// fails it when VXTAP_REQUIRE_PRIVILEGED=1 (CI installs it).
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("VXTAP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatal("clickhouse-server not installed (scripts/deps.sh installs it) and VXTAP_REQUIRE_PRIVILEGED=1 forbids skipping")
	}
	t.Skip("clickhouse-server not installed; set VXTAP_REQUIRE_PRIVILEGED=1 to make this a failure")
	return ""
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start writes a config and starts the server on 127.0.0.1; it is
// stopped when the test ends.
func Start(t testing.TB) *Server { return StartIn(t, "", "127.0.0.1") }

// StartIn starts the server inside network namespace netns (made by the
// test), listening on host, so appliances in other namespaces reach it.
func StartIn(t testing.TB, netns, host string) *Server {
	t.Helper()
	Binary(t)
	s := &Server{t: t, Dir: t.TempDir(), Netns: netns, Host: host, TCPPort: freePort(t), HTTPPort: freePort(t)}
	for _, d := range []string{"data", "tmp", "log", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(configXML, s.Dir, s.Dir, s.HTTPPort, s.TCPPort, s.Host, s.Dir, s.Dir, s.Dir, s.Dir, s.Dir)
	if err := os.WriteFile(filepath.Join(s.Dir, "config.xml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "users.xml"), []byte(usersXML), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server (again) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	bin := Binary(s.t)
	args := []string{"--config-file=" + filepath.Join(s.Dir, "config.xml")}
	if filepath.Base(bin) == "clickhouse" {
		args = append([]string{"server"}, args...)
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "log", "stdout"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer out.Close()
	if s.Netns != "" {
		args = append([]string{"--net=/run/netns/" + s.Netns, bin}, args...)
		bin = "nsenter"
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.Dir = s.Dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start clickhouse-server: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, err := s.Query("SELECT 1"); err == nil && strings.TrimSpace(v) == "1" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "log", "err.log"))
	s.t.Fatalf("clickhouse-server did not answer on port %d within 60s; err.log:\n%s", s.HTTPPort, log)
}

// Stop stops the server by its PID and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Query runs a query over the HTTP interface and returns its
// TabSeparated answer.
func (s *Server) Query(q string) (string, error) {
	if s.Netns != "" {
		cmd := exec.Command("nsenter", "--net=/run/netns/"+s.Netns, "curl", "-sS", "--fail-with-body", "--max-time", "30",
			"--data-binary", "@-", fmt.Sprintf("http://%s:%d/", s.Host, s.HTTPPort))
		cmd.Stdin = strings.NewReader(q)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("clickhouse HTTP: %v: %s", err, out)
		}
		return string(out), nil
	}
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Post(fmt.Sprintf("http://%s:%d/", s.Host, s.HTTPPort), "text/plain", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("clickhouse HTTP %d: %s", resp.StatusCode, b.String())
	}
	return b.String(), nil
}

// MustQuery is Query that fails the test on error.
func (s *Server) MustQuery(q string) string {
	s.t.Helper()
	v, err := s.Query(q)
	if err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return v
}

const configXML = `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%s/log/server.log</log><errorlog>%s/log/err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>%d</http_port>
  <tcp_port>%d</tcp_port>
  <listen_host>%s</listen_host>
  <path>%s/data/</path>
  <tmp_path>%s/tmp/</tmp_path>
  <user_files_path>%s/user_files/</user_files_path>
  <format_schema_path>%s/format_schemas/</format_schema_path>
  <users_config>%s/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <timezone>UTC</timezone>
</yandex>
`

const usersXML = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip><ip>198.18.0.0/15</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
