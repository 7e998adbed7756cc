package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpProxy forwards a local port to a server and can cut every connection
// and refuse new ones, as a database that went away does.
type tcpProxy struct {
	t       *testing.T
	network string // of target: "tcp" or "unix"
	target  string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
}

func newTCPProxy(t *testing.T, network, target string) *tcpProxy {
	p := &tcpProxy{t: t, network: network, target: target}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(p.network, p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// stop closes the listener and cuts every connection.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restart listens again on the same address.
func (p *tcpProxy) restart() { p.start(p.addr) }

// The database goes away in the middle of a run and comes back: requests
// are refused with 503 while it is gone, none passes unchecked, service
// recovers by itself, and last-used times of the outage are written late,
// not lost.
func TestPostgresOutageAndRecovery(t *testing.T) {
	dsn := feedtest.DSN(t, envPostgres)
	ctx := context.Background()
	direct := openPostgres(t)
	_, table := newTable(t, direct, apikey.Postgres)

	// The same server and settings as the DSN, through a proxy that can
	// play the outage.
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	}
	proxy := newTCPProxy(t, network, target)
	proxyHost, proxyPort, err := net.SplitHostPort(proxy.addr)
	require.NoError(t, err)
	port, err := strconv.ParseUint(proxyPort, 10, 16)
	require.NoError(t, err)
	cfg.Host, cfg.Port, cfg.Fallbacks = proxyHost, uint16(port), nil
	proxied := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { proxied.Close() })
	require.NoError(t, proxied.PingContext(ctx), "through the proxy")
	proxied.SetConnMaxLifetime(time.Minute)
	store, err := apikey.NewSQLStore(proxied, apikey.Postgres, apikey.WithTable(table))
	require.NoError(t, err)
	m := newManager(t, store, apikey.WithLastUsedInterval(time.Hour))
	plain, k := mustCreate(t, m, apikey.NewKey{})

	ran := 0
	h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ }))
	call := func() int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", plain)
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(c))
		return w.Code
	}
	require.Equal(t, http.StatusOK, call())
	require.NoError(t, m.Flush(ctx))
	lastUsed := func() time.Time {
		var at sql.NullTime
		require.NoError(t, direct.QueryRow("SELECT last_used_at FROM "+table+" WHERE id = $1", k.ID).Scan(&at))
		require.True(t, at.Valid, "last_used_at is set")
		return at.Time
	}
	first := lastUsed()

	proxy.stop()
	before := ran
	for range 5 {
		assert.Equal(t, http.StatusServiceUnavailable, call(), "refused while the database is away")
	}
	assert.Equal(t, before, ran, "no request passed unchecked")
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	assert.False(t, errors.Is(err, apikey.ErrUnknownKey))

	// The first use after this instant is the one the next batch holds.
	back := time.Now()
	proxy.restart()
	require.Eventually(t, func() bool { return call() == http.StatusOK }, 10*time.Second, 50*time.Millisecond,
		"service comes back by itself")

	// A use whose flush cannot reach the database is kept and written once
	// it can: last_used_at moves on from the first use to it.
	proxy.stop()
	time.Sleep(10 * time.Millisecond)
	require.Error(t, m.Flush(ctx), "nothing pending would flush without error")
	assert.Equal(t, first, lastUsed(), "nothing written while the database is away")
	proxy.restart()
	require.Eventually(t, func() bool { return m.Flush(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	retried := lastUsed()
	assert.True(t, retried.After(first), "the retried batch was written: last used %v, first use %v", retried, first)
	assert.False(t, retried.Before(back.Truncate(time.Millisecond)), "last used %v is the use after %v", retried, back)
}
