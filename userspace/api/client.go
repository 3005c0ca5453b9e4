package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/vxtap/vxtap/userspace/topview"
)

// ErrNoDaemon matches (errors.Is) every error that means no daemon
// answers on the socket: missing, stale, or gone mid-session.
var ErrNoDaemon = errors.New("no vxtap daemon")

// NoDaemonError says why no daemon answers.
type NoDaemonError struct {
	Iface, Path string
	Reason      string // "does not exist", "refuses connections ..."
}

func (e *NoDaemonError) Error() string {
	if e.Iface == "" {
		return fmt.Sprintf("no vxtap daemon at %s: it %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("no vxtap daemon on %s: %s %s (is `vxtap run --iface %s` running?)", e.Iface, e.Path, e.Reason, e.Iface)
}

func (e *NoDaemonError) Is(target error) bool { return target == ErrNoDaemon }

// PermissionError is a socket this user may not use; errors.Is(err,
// fs.ErrPermission) holds.
type PermissionError struct {
	Path   string
	Detail string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("permission denied on %s: %s (run as root or as a member of group %s)", e.Path, e.Detail, groupName)
}

func (e *PermissionError) Is(target error) bool { return target == fs.ErrPermission }

// RequestError is an error the daemon answered with.
type RequestError struct {
	Code      int    // HTTP status
	Message   string // the daemon's words
	Parameter string // the query parameter at fault, if any
}

func (e *RequestError) Error() string { return fmt.Sprintf("vxtap daemon: %s", e.Message) }

// Client talks to one daemon.
type Client struct {
	iface, path string
	hc          *http.Client
}

// Dial connects to the daemon on iface, or says clearly why it cannot.
func Dial(iface string) (*Client, error) { return DialPath(SocketPath(iface), iface) }

// DialPath connects to the socket at path; iface only words the errors.
func DialPath(path, iface string) (*Client, error) {
	c := &Client{iface: iface, path: path}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 1, IdleConnTimeout: 30 * time.Second, DisableCompression: true,
	}}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, c.dialError(err)
	}
	conn.Close()
	return c, nil
}

// Path is the socket the client talks to.
func (c *Client) Path() string { return c.path }

// Close drops idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

func (c *Client) dialError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "does not exist"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "refuses connections (left behind by a daemon that exited)"}
	case errors.Is(err, fs.ErrPermission):
		return &PermissionError{Path: c.path, Detail: "the socket is not open to this user"}
	case errors.Is(err, syscall.ENOTSOCK):
		return &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "is not a socket"}
	}
	return fmt.Errorf("connect to %s: %w", c.path, err)
}

// get fetches an endpoint into v.
func (c *Client) get(ctx context.Context, endpoint string, q url.Values, v any) error {
	u := url.URL{Scheme: "http", Host: "vxtap", Path: endpoint, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return c.dialError(err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "closed the connection: the daemon stopped"}
		}
		return fmt.Errorf("%s: %w", c.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return &NoDaemonError{Iface: c.iface, Path: c.path, Reason: "closed the connection mid-answer: the daemon stopped"}
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("%s from %s", resp.Status, endpoint)
		}
		if resp.StatusCode == http.StatusForbidden {
			return &PermissionError{Path: c.path, Detail: "the daemon refused: " + eb.Error}
		}
		return &RequestError{Code: resp.StatusCode, Message: eb.Error, Parameter: eb.Parameter}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: bad answer from %s: %w", c.path, endpoint, err)
	}
	return nil
}

// Top fetches the top-talkers view.
func (c *Client) Top(ctx context.Context, q topview.Query) (*topview.Result, error) {
	v := url.Values{}
	if q.Sort != "" {
		v.Set("sort", string(q.Sort))
	}
	if q.Group != "" {
		v.Set("group", string(q.Group))
	}
	v.Set("n", strconv.Itoa(q.N))
	if !q.Filter.Empty() {
		v.Set("filter", q.Filter.String())
	}
	var res topview.Result
	if err := c.get(ctx, "/v1/top", v, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.get(ctx, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Counters fetches the data path counters.
func (c *Client) Counters(ctx context.Context) (*Counters, error) {
	var cs Counters
	if err := c.get(ctx, "/v1/counters", nil, &cs); err != nil {
		return nil, err
	}
	return &cs, nil
}
