package pgfeed_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/go-apikey/apikey/pgfeed"
)

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

// limit is the bound the design promises for a push feed.
const limit = time.Second

// cluster is three replicas on one table, each with its own pool and its
// own listening connection, all named appName in pg_stat_activity.
type cluster struct {
	db       *sql.DB
	table    string
	appName  string
	replicas []*feedtest.Replica
}

func newCluster(t *testing.T, fallback time.Duration) *cluster {
	dsn := feedtest.DSN(t, feedtest.EnvPostgres)
	c := &cluster{db: feedtest.Open(t, "pgx", dsn), appName: "apikey_feedtest_" + strings.ToLower(rand.Text()[:10])}
	c.table = feedtest.NewTable(t, c.db, apikey.Postgres)
	u, err := url.Parse(dsn)
	require.NoError(t, err, "the tests need a URL DSN")
	q := u.Query()
	q.Set("application_name", c.appName)
	u.RawQuery = q.Encode()
	for range 3 {
		s := feedtest.Store(t, feedtest.Open(t, "pgx", dsn), apikey.Postgres, c.table)
		feed, err := pgfeed.New(u.String(), s, pgfeed.WithHeartbeat(200*time.Millisecond))
		require.NoError(t, err)
		c.replicas = append(c.replicas, feedtest.NewReplica(t, s, feed, fallback))
	}
	return c
}

func (c *cluster) managers() []*apikey.Manager {
	var ms []*apikey.Manager
	for _, r := range c.replicas {
		ms = append(ms, r.Manager)
	}
	return ms
}

// listeners counts the feed's connections to the server.
func (c *cluster) listeners(t *testing.T) int {
	var n int
	require.NoError(t, c.db.QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1", c.appName).Scan(&n))
	return n
}

// Three replicas, caches an hour long: revoke, disable or rotate on one,
// and the others refuse within a second, 200 times.
func TestPropagation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	require.Equal(t, 3, c.listeners(t))
	st := feedtest.Propagation(t, c.replicas, 200, limit)
	t.Logf("pgfeed, 3 replicas: %v", st)
	require.Less(t, st.P99, limit)
}

// pgfeed passes the Feed conformance suite.
func TestConformance(t *testing.T) {
	t.Parallel()
	dsn := feedtest.DSN(t, feedtest.EnvPostgres)
	apikeytest.TestFeed(t, apikeytest.FeedHarness{
		Open: func(t *testing.T) func() (apikey.Store, cache.Feed) {
			table := feedtest.NewTable(t, feedtest.Open(t, "pgx", dsn), apikey.Postgres)
			return func() (apikey.Store, cache.Feed) {
				s := feedtest.Store(t, feedtest.Open(t, "pgx", dsn), apikey.Postgres, table)
				feed, err := pgfeed.New(dsn, s, pgfeed.WithHeartbeat(200*time.Millisecond))
				require.NoError(t, err)
				return s, feed
			}
		},
		Bound: limit,
	})
}

// Changes made without the library, or by a process without a cache or a
// feed, are notified all the same: the trigger sends them.
func TestChangesFromOtherWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 0)
	ms := c.managers()
	bare := apikey.New(feedtest.Store(t, c.db, apikey.Postgres, c.table), apikey.WithLastUsedInterval(0))
	defer bare.Close()
	warm := func(plain string) {
		for _, m := range ms {
			_, err := m.Verify(ctx, plain)
			require.NoError(t, err)
		}
	}
	plain, k, err := bare.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"a"}})
	require.NoError(t, err)
	warm(plain)
	_, err = c.db.Exec("UPDATE "+c.table+" SET enabled = false WHERE id = $1", k.ID)
	require.NoError(t, err)
	feedtest.Refuse(t, ms, plain, apikey.ErrKeyDisabled, limit)

	plain, k, err = bare.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	warm(plain)
	require.NoError(t, bare.Revoke(ctx, k.ID))
	feedtest.Refuse(t, ms, plain, apikey.ErrUnknownKey, limit)

	// A scope change is a change too: the principal's scopes follow.
	plain, k, err = bare.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"a"}})
	require.NoError(t, err)
	warm(plain)
	_, err = bare.Update(ctx, k.ID, apikey.SetScopes("b"))
	require.NoError(t, err)
	feedtest.Await(t, limit, "every replica sees the new scope", func() bool {
		for _, m := range ms {
			p, err := m.Verify(ctx, plain)
			require.NoError(t, err)
			if !p.HasScope("b") {
				return false
			}
		}
		return true
	})
}

// The listening connections are killed, and held down while a key is
// revoked: every replica refuses it once they listen again. Nothing keeps
// running after Close, on either side of the connection.
func TestListenerKilled(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	c := newCluster(t, 0) // an hour of fallback TTL: only the resync can explain a refusal
	plain, k, err := c.replicas[0].Manager.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	for _, r := range c.replicas {
		_, err := r.Manager.Verify(ctx, plain)
		require.NoError(t, err)
	}
	var releases []func()
	for _, r := range c.replicas {
		releases = append(releases, r.Feed.Hold(t))
	}
	var killed int
	require.NoError(t, c.db.QueryRow("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", c.appName).Scan(&killed))
	require.Equal(t, 3, killed)
	for _, r := range c.replicas {
		feedtest.Await(t, 5*time.Second, "the feed reports the lost connection", func() bool { return r.Feed.Disconnects() > 0 })
	}
	feedtest.Await(t, 5*time.Second, "held: nobody listens", func() bool { return c.listeners(t) == 0 })
	require.NoError(t, c.replicas[0].Manager.Revoke(ctx, k.ID))
	for _, r := range c.replicas[1:] {
		_, err := r.Manager.Verify(ctx, plain)
		require.NoError(t, err, "not notified: still served from the cache")
	}
	for _, release := range releases {
		release()
	}
	start := time.Now()
	feedtest.Refuse(t, c.managers()[1:], plain, apikey.ErrUnknownKey, 5*time.Second)
	t.Logf("revoked while the listeners were down, refused %v after they were let reconnect", time.Since(start).Round(time.Millisecond))
	for _, r := range c.replicas {
		// The cache empties itself before the count moves, and replica 0
		// was not waited for above.
		feedtest.Await(t, 5*time.Second, "each feed connects again, once", func() bool { return r.Feed.Connects() == 2 })
	}
	feedtest.Await(t, 5*time.Second, "three listeners again", func() bool { return c.listeners(t) == 3 })

	// Notifications flow again after the reconnection.
	st := feedtest.Propagation(t, c.replicas, 30, limit)
	t.Logf("after the reconnection: %v", st)

	for _, r := range c.replicas {
		r.Close()
	}
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
	feedtest.Await(t, 5*time.Second, "the listening connections are closed", func() bool { return c.listeners(t) == 0 })
}

func TestNewInvalid(t *testing.T) {
	sqlite, err := apikey.NewSQLStore(&sql.DB{}, apikey.SQLite)
	require.NoError(t, err)
	pg, err := apikey.NewSQLStore(&sql.DB{}, apikey.Postgres)
	require.NoError(t, err)
	const dsn = "postgres://u@127.0.0.1:1/x"
	for name, f := range map[string]func() (*pgfeed.Feed, error){
		"nil store":       func() (*pgfeed.Feed, error) { return pgfeed.New(dsn, nil) },
		"sqlite store":    func() (*pgfeed.Feed, error) { return pgfeed.New(dsn, sqlite) },
		"bad DSN":         func() (*pgfeed.Feed, error) { return pgfeed.New("postgres://u:secret@[::1", pg) },
		"zero heartbeat":  func() (*pgfeed.Feed, error) { return pgfeed.New(dsn, pg, pgfeed.WithHeartbeat(0)) },
		"short retention": func() (*pgfeed.Feed, error) { return pgfeed.New(dsn, pg, pgfeed.WithRetention(time.Millisecond)) },
	} {
		_, err := f()
		require.ErrorIs(t, err, apikey.ErrInvalidInput, name)
		require.NotContains(t, err.Error(), "secret", name)
	}
	_, err = pgfeed.New(dsn, pg)
	require.NoError(t, err)
}

// A server that does not answer is a feed that never connects: the cache
// stays on its fallback TTL, verification goes on, and Close returns.
func TestUnreachableServer(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	mem := apikey.NewMemoryStore()
	pg, err := apikey.NewSQLStore(&sql.DB{}, apikey.Postgres) // never reached: the feed never connects
	require.NoError(t, err)
	feed, err := pgfeed.New("postgres://nobody@127.0.0.1:1/none?connect_timeout=1", pg)
	require.NoError(t, err)
	obs := feedtest.Observe(feed)
	cached := cache.New(mem, cache.WithFeed(obs))
	m := apikey.New(cached, apikey.WithLastUsedInterval(0))
	plain, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	feedtest.Await(t, 5*time.Second, "the failures are reported", func() bool { return obs.Disconnects() >= 2 })
	start := time.Now()
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 100*time.Millisecond, "verification does not wait for the feed")
	require.Zero(t, obs.Connects())
	require.NoError(t, cached.Close())
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
}
