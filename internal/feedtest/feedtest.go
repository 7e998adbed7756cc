// Package feedtest holds what the change-feed tests share: databases from
// the environment, replicas (a Manager over its own cache.Store following
// its own feed), the propagation measurement and goroutine accounting.
package feedtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/dsn"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// Environment variables naming the servers (see testkit.Need). Unset, the
// tests that need them skip; set, a server that does not answer fails them.
const (
	EnvPostgres = testkit.EnvPostgres
	EnvMySQL    = testkit.EnvMySQL
	EnvRedis    = testkit.EnvRedis
)

// DSN returns the value of env as its driver reads it, or skips t when it
// is unset (testkit.Need). EnvMySQL may hold a mysql:// URL or a
// go-sql-driver DSN, as the apikey command's --db does; DSN returns the
// latter.
func DSN(t testing.TB, env string) string {
	t.Helper()
	v := testkit.Need(t, env)
	if env == EnvMySQL {
		d, err := dsn.MySQL(v)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		return d
	}
	return v
}

// Open opens and pings a database, closed when t ends.
func Open(t testing.TB, driverName, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("cannot reach the database through driver %s: %v", driverName, err)
	}
	return db
}

// SQLiteDSN returns the DSN of a new SQLite file (modernc.org/sqlite).
func SQLiteDSN(t testing.TB) string {
	return "file:" + filepath.Join(t.TempDir(), "keys.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

// NewTable makes a fresh, migrated table in db, dropped with its change log
// when t ends, and returns its name.
func NewTable(t testing.TB, db *sql.DB, d apikey.Dialect) string {
	t.Helper()
	table := "apikey_feed_" + strings.ToLower(rand.Text()[:12])
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { assert.NoError(t, sqltest.Drop(context.Background(), db, d, table)) })
	return table
}

// Store returns an SQLStore on table.
func Store(t testing.TB, db *sql.DB, d apikey.Dialect, table string) *apikey.SQLStore {
	t.Helper()
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	return s
}

// Observed wraps a Feed and counts what it tells its handler. A test can
// hold the feed's goroutine in Disconnected, to keep it from reconnecting
// while the test makes changes it must miss.
type Observed struct {
	cache.Feed
	connects, disconnects atomic.Int64

	mu   sync.Mutex
	hold chan struct{} // Disconnected waits on it while not nil
}

// Observe wraps f.
func Observe(f cache.Feed) *Observed { return &Observed{Feed: f} }

// Subscribe implements cache.Feed.
func (o *Observed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	return o.Feed.Subscribe(ctx, observedHandler{h, o})
}

// Connects and Disconnects return how many times the feed reported each.
func (o *Observed) Connects() int64    { return o.connects.Load() }
func (o *Observed) Disconnects() int64 { return o.disconnects.Load() }

// Hold makes the next Disconnected wait, after the cache has heard it,
// until the returned function is called, or t ends: a test that fails
// while it holds the feed must not leave the replica's Close waiting for
// the feed's goroutine.
func (o *Observed) Hold(t testing.TB) (release func()) {
	ch := make(chan struct{})
	o.mu.Lock()
	o.hold = ch
	o.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			o.mu.Lock()
			o.hold = nil
			o.mu.Unlock()
			close(ch)
		})
	}
	t.Cleanup(release) // before the replica's own Cleanup, registered earlier
	return release
}

type observedHandler struct {
	cache.FeedHandler
	o *Observed
}

func (h observedHandler) Connected() {
	h.FeedHandler.Connected()
	h.o.connects.Add(1)
}

func (h observedHandler) Disconnected(err error) {
	h.FeedHandler.Disconnected(err)
	h.o.disconnects.Add(1)
	h.o.mu.Lock()
	hold := h.o.hold
	h.o.mu.Unlock()
	if hold != nil {
		<-hold
	}
}

// Await polls cond until it holds, or fails t after d.
func Await(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// Replica is one process of a service: a Manager over its own cache.Store,
// which follows its own feed.
type Replica struct {
	Manager *apikey.Manager
	Cache   *cache.Store
	Feed    *Observed
}

// NewReplica returns a replica over store following feed, connected. Its
// cache keeps entries an hour, and an hour too while the feed is down
// unless fallback says otherwise, so that only the feed can explain a
// change seen sooner. It is closed when t ends, or earlier by Close.
func NewReplica(t testing.TB, store apikey.Store, feed cache.Feed, fallback time.Duration) *Replica {
	t.Helper()
	if fallback == 0 {
		fallback = time.Hour
	}
	obs := Observe(feed)
	cached := cache.New(store, cache.WithFeed(obs), cache.WithTTL(time.Hour), cache.WithFallbackTTL(fallback))
	r := &Replica{Manager: apikey.New(cached, apikey.WithLastUsedInterval(0)), Cache: cached, Feed: obs}
	t.Cleanup(r.Close)
	Await(t, 10*time.Second, "the feed connects", func() bool { return obs.Connects() > 0 })
	return r
}

// Close stops the replica's Manager and cache.
func (r *Replica) Close() {
	r.Manager.Close()
	r.Cache.Close()
}

// Stats summarises propagation times.
type Stats struct {
	N             int
	P50, P99, Max time.Duration
}

func (s Stats) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", s.N, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Max.Round(10*time.Microsecond))
}

func summarise(ds []time.Duration) Stats {
	slices.Sort(ds)
	n := len(ds)
	return Stats{N: n, P50: ds[n/2], P99: ds[int(math.Ceil(0.99*float64(n)))-1], Max: ds[n-1]}
}

// Refuse polls every Manager in ms until each refuses plain with want,
// fails t if that takes longer than limit, and returns how long it took.
func Refuse(t testing.TB, ms []*apikey.Manager, plain string, want error, limit time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	pending := slices.Clone(ms)
	for len(pending) > 0 {
		for i := 0; i < len(pending); i++ {
			if _, err := pending[i].Verify(ctx, plain); err != nil {
				require.ErrorIs(t, err, want)
				pending = slices.Delete(pending, i, i+1)
				i--
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Since(start) > limit {
			t.Fatalf("%d replicas still accept the key %v after the change (want %v)", len(pending), limit, want)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start)
}

// Propagation makes n changes that each refuse a key (revoke, disable,
// rotate with no grace, in turn, each on the next replica) and measures
// how long the other replicas take to refuse it, from the moment the
// change returned. Every replica has the key cached beforehand. It fails t
// if one takes longer than limit, or if a feed reconnected meanwhile
// (which empties caches and would explain a refusal).
func Propagation(t testing.TB, rs []*Replica, n int, limit time.Duration) Stats {
	t.Helper()
	ctx := context.Background()
	plains, ids := make([]string, n), make([]string, n)
	for i := range n {
		p, k, err := rs[0].Manager.Create(ctx, apikey.NewKey{Owner: "alice"})
		require.NoError(t, err)
		plains[i], ids[i] = p, k.ID
	}
	for _, r := range rs {
		for _, p := range plains {
			_, err := r.Manager.Verify(ctx, p)
			require.NoError(t, err)
		}
	}
	connects := make([]int64, len(rs))
	for i, r := range rs {
		connects[i] = r.Feed.Connects()
	}
	times := make([]time.Duration, 0, n)
	for i := range n {
		actor := rs[i%len(rs)]
		var others []*apikey.Manager
		for _, r := range rs {
			if r != actor {
				others = append(others, r.Manager)
			}
		}
		var want error
		switch i % 3 {
		case 0:
			require.NoError(t, actor.Manager.Revoke(ctx, ids[i]))
			want = apikey.ErrUnknownKey
		case 1:
			_, err := actor.Manager.Disable(ctx, ids[i])
			require.NoError(t, err)
			want = apikey.ErrKeyDisabled
		case 2:
			_, _, err := actor.Manager.Rotate(ctx, ids[i], 0)
			require.NoError(t, err)
			want = apikey.ErrKeyExpired
		}
		times = append(times, Refuse(t, others, plains[i], want, limit))
	}
	for i, r := range rs {
		require.Equal(t, connects[i], r.Feed.Connects(), "replica %d's feed reconnected during the measurement", i)
	}
	return summarise(times)
}
