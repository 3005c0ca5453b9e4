package clickhouse

import (
	"fmt"
	"net/url"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Open connects to the server a URL names, over ClickHouse's native
// protocol (clickhouse-go v2, which talks to 18.16 as well as current
// releases): clickhouse://[user[:password]@]host:port[/database][?options],
// options as clickhouse-go's DSN (dial_timeout, compress, secure, ...).
// The connection is lazy: a server that is down fails the first query,
// not Open, so a daemon starts with ClickHouse down and spools.
func Open(rawURL string) (driver.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("clickhouse URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "clickhouse", "tcp":
	default:
		return nil, fmt.Errorf("clickhouse URL %q: want clickhouse://host:port (the native protocol port, 9000 by default)", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("clickhouse URL %q: no host", rawURL)
	}
	if u.Port() == "" {
		u.Host += ":9000"
	}
	opts, err := ch.ParseDSN(u.String())
	if err != nil {
		return nil, fmt.Errorf("clickhouse URL %q: %w", rawURL, err)
	}
	if opts.DialTimeout == 0 || u.Query().Get("dial_timeout") == "" {
		opts.DialTimeout = 5 * time.Second
	}
	opts.MaxOpenConns = 4
	// A server that stops answering mid-query (stopping, overloaded)
	// fails the query in time for a retry, not after minutes.
	if u.Query().Get("read_timeout") == "" {
		opts.ReadTimeout = 20 * time.Second
	}
	opts.Compression = &ch.Compression{Method: ch.CompressionLZ4}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", u.Host, err)
	}
	return conn, nil
}
