package pollfeed_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/go-apikey/apikey/pollfeed"
)

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

// The tests poll every 50 ms; a change must be seen within that plus one
// query, with room for a loaded CI machine running -race.
const (
	interval = 50 * time.Millisecond
	limit    = interval + 950*time.Millisecond
)

// backend opens one *sql.DB per call on the same database, as separate
// processes would have.
type backend struct {
	name    string
	dialect apikey.Dialect
	opener  func(t *testing.T) func() *sql.DB
}

var backends = []backend{
	{"sqlite", apikey.SQLite, func(t *testing.T) func() *sql.DB {
		dsn := feedtest.SQLiteDSN(t)
		return func() *sql.DB { return feedtest.Open(t, "sqlite", dsn) }
	}},
	{"mysql", apikey.MySQL, func(t *testing.T) func() *sql.DB {
		dsn := feedtest.DSN(t, feedtest.EnvMySQL)
		return func() *sql.DB { return feedtest.Open(t, "mysql", dsn) }
	}},
	{"postgres", apikey.Postgres, func(t *testing.T) func() *sql.DB {
		dsn := feedtest.DSN(t, feedtest.EnvPostgres)
		return func() *sql.DB { return feedtest.Open(t, "pgx", dsn) }
	}},
}

// cluster is three replicas on one table, each with its own connection
// pool and feed, and the table's name and a pool for direct SQL.
type cluster struct {
	db       *sql.DB
	table    string
	replicas []*feedtest.Replica
}

func newCluster(t *testing.T, b backend, opts ...pollfeed.Option) *cluster {
	open := b.opener(t)
	c := &cluster{db: open()}
	c.table = feedtest.NewTable(t, c.db, b.dialect)
	for range 3 {
		s := feedtest.Store(t, open(), b.dialect, c.table)
		feed := pollfeed.New(s, append([]pollfeed.Option{pollfeed.WithInterval(interval)}, opts...)...)
		c.replicas = append(c.replicas, feedtest.NewReplica(t, s, feed, 0))
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

// exec runs a statement written with ? placeholders on any dialect.
func exec(t *testing.T, db *sql.DB, d apikey.Dialect, query string, args ...any) {
	t.Helper()
	if d == apikey.Postgres {
		query = pgPlaceholders(query)
	}
	_, err := db.Exec(query, args...)
	require.NoError(t, err)
}

func pgPlaceholders(q string) string {
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, '$', byte('0'+n))
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// Three replicas, caches an hour long: revoke, disable or rotate on one,
// and the others refuse within the interval, 200 times.
func TestPropagation(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, b)
			st := feedtest.Propagation(t, c.replicas, 200, limit)
			t.Logf("pollfeed on %s, interval %v, 3 replicas: %v", b.name, interval, st)
		})
	}
}

// pollfeed passes the Feed conformance suite on every backend.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			apikeytest.TestFeed(t, apikeytest.FeedHarness{
				Open: func(t *testing.T) func() (apikey.Store, cache.Feed) {
					open := b.opener(t)
					table := feedtest.NewTable(t, open(), b.dialect)
					return func() (apikey.Store, cache.Feed) {
						s := feedtest.Store(t, open(), b.dialect, table)
						return s, pollfeed.New(s, pollfeed.WithInterval(interval))
					}
				},
				Bound: limit,
			})
		})
	}
}

// Changes made without the library, or by a process without a cache or a
// feed, are seen all the same: the database logs them.
func TestChangesFromOtherWriters(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newCluster(t, b)
			ms := c.managers()
			bare := apikey.New(feedtest.Store(t, c.db, b.dialect, c.table), apikey.WithLastUsedInterval(0))
			defer bare.Close()
			warm := func(plain string) {
				for _, m := range ms {
					_, err := m.Verify(ctx, plain)
					require.NoError(t, err)
				}
			}

			plain, k, err := bare.Create(ctx, apikey.NewKey{Owner: "alice"})
			require.NoError(t, err)
			warm(plain)
			exec(t, c.db, b.dialect, "UPDATE "+c.table+" SET enabled = ? WHERE id = ?", false, k.ID)
			feedtest.Refuse(t, ms, plain, apikey.ErrKeyDisabled, limit)

			plain, k, err = bare.Create(ctx, apikey.NewKey{Owner: "alice"})
			require.NoError(t, err)
			warm(plain)
			require.NoError(t, bare.Revoke(ctx, k.ID))
			feedtest.Refuse(t, ms, plain, apikey.ErrUnknownKey, limit)

			plain, k, err = bare.Create(ctx, apikey.NewKey{Owner: "alice"})
			require.NoError(t, err)
			warm(plain)
			exec(t, c.db, b.dialect, "DELETE FROM "+c.table+" WHERE id = ?", k.ID)
			feedtest.Refuse(t, ms, plain, apikey.ErrUnknownKey, limit)
		})
	}
}

// A transaction that commits after a later one is still seen: its change
// log entry appears behind one the feed has already read.
func TestLateCommit(t *testing.T) {
	for _, b := range backends[1:] { // SQLite has one writer at a time
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := newCluster(t, b)
			ms := c.managers()
			var plains, ids []string
			for range 2 {
				p, k, err := ms[0].Create(ctx, apikey.NewKey{Owner: "alice"})
				require.NoError(t, err)
				plains, ids = append(plains, p), append(ids, k.ID)
				for _, m := range ms {
					_, err = m.Verify(ctx, p)
					require.NoError(t, err)
				}
			}
			tx, err := c.db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			q := "UPDATE " + c.table + " SET enabled = ? WHERE id = ?"
			if b.dialect == apikey.Postgres {
				q = pgPlaceholders(q)
			}
			_, err = tx.Exec(q, false, ids[0]) // logged first, committed last
			require.NoError(t, err)
			_, err = ms[0].Disable(ctx, ids[1])
			require.NoError(t, err)
			// The other replicas have read the later entry, past the open
			// transaction's.
			feedtest.Refuse(t, ms[1:], plains[1], apikey.ErrKeyDisabled, limit)
			for _, m := range ms {
				_, err := m.Verify(ctx, plains[0])
				require.NoError(t, err, "not committed yet")
			}
			require.NoError(t, tx.Commit())
			feedtest.Refuse(t, ms, plains[0], apikey.ErrKeyDisabled, limit)
		})
	}
}

// flakyLog fails every read while broken.
type flakyLog struct {
	pollfeed.ChangeLog
	broken atomic.Bool
}

var errDown = errors.New("database unreachable")

func (l *flakyLog) Changes(ctx context.Context, after int64, limit int) ([]apikey.Change, error) {
	if l.broken.Load() {
		return nil, errDown
	}
	return l.ChangeLog.Changes(ctx, after, limit)
}

func (l *flakyLog) LastChange(ctx context.Context) (int64, error) {
	if l.broken.Load() {
		return 0, errDown
	}
	return l.ChangeLog.LastChange(ctx)
}

// While the change log cannot be read the cache is told, and a key revoked
// meanwhile is refused as soon as the log can be read again. Nothing keeps
// running after Close.
func TestOutage(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	dsn := feedtest.SQLiteDSN(t)
	db := feedtest.Open(t, "sqlite", dsn)
	table := feedtest.NewTable(t, db, apikey.SQLite)
	writer := apikey.New(feedtest.Store(t, db, apikey.SQLite, table), apikey.WithLastUsedInterval(0))
	defer writer.Close()
	s := feedtest.Store(t, feedtest.Open(t, "sqlite", dsn), apikey.SQLite, table)
	log := &flakyLog{ChangeLog: s}
	r := feedtest.NewReplica(t, s, pollfeed.New(log, pollfeed.WithInterval(interval)), 0)

	plain, k, err := writer.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	_, err = r.Manager.Verify(ctx, plain)
	require.NoError(t, err)

	release := r.Feed.Hold(t)
	defer release()
	log.broken.Store(true)
	feedtest.Await(t, 5*time.Second, "the feed reports the outage", func() bool { return r.Feed.Disconnects() > 0 })
	require.NoError(t, writer.Revoke(ctx, k.ID))
	_, err = r.Manager.Verify(ctx, plain)
	require.NoError(t, err, "down, with an hour of fallback TTL: still served from the cache")
	log.broken.Store(false)
	release()
	start := time.Now()
	feedtest.Refuse(t, []*apikey.Manager{r.Manager}, plain, apikey.ErrUnknownKey, 5*time.Second)
	t.Logf("revoked during the outage, refused %v after it ended", time.Since(start).Round(time.Millisecond))
	// The cache empties itself before the count moves.
	feedtest.Await(t, 5*time.Second, "the feed connects again, once", func() bool { return r.Feed.Connects() == 2 })

	r.Close()
	writer.Close()
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
}

func TestNewPanicsOnMisconfiguration(t *testing.T) {
	s, err := apikey.NewSQLStore(&sql.DB{}, apikey.SQLite)
	require.NoError(t, err)
	require.Panics(t, func() { pollfeed.New(nil) })
	require.Panics(t, func() { pollfeed.New(s, pollfeed.WithInterval(0)) })
	require.Panics(t, func() { pollfeed.New(s, pollfeed.WithGapTimeout(0)) })
	require.Panics(t, func() { pollfeed.New(s, pollfeed.WithRetention(time.Second)) })
	require.NotPanics(t, func() { pollfeed.New(s, pollfeed.WithRetention(10*time.Second)) })
}
