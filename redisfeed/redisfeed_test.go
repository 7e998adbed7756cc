package redisfeed_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/go-apikey/apikey/redisfeed"
)

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

// limit is the bound the design promises for a push feed.
const limit = time.Second

// cluster is three replicas on one SQLite table, each with its own pool,
// Redis client and feed; the Redis clients are named name.
type cluster struct {
	name     string
	channel  string
	admin    *redis.Client
	replicas []*feedtest.Replica
	feeds    []*redisfeed.Feed
}

func newCluster(t *testing.T) *cluster {
	addr := feedtest.DSN(t, feedtest.EnvRedis)
	tag := strings.ToLower(rand.Text()[:10])
	c := &cluster{name: "apikey-feedtest-" + tag, channel: "apikey-test:" + tag, admin: client(t, addr, "")}
	dsn := feedtest.SQLiteDSN(t)
	table := feedtest.NewTable(t, feedtest.Open(t, "sqlite", dsn), apikey.SQLite)
	for range 3 {
		s := feedtest.Store(t, feedtest.Open(t, "sqlite", dsn), apikey.SQLite, table)
		feed := redisfeed.New(client(t, addr, c.name), redisfeed.WithChannel(c.channel), redisfeed.WithHeartbeat(200*time.Millisecond))
		t.Cleanup(func() { feed.Close() })
		c.feeds = append(c.feeds, feed)
		c.replicas = append(c.replicas, feedtest.NewReplica(t, s, feed, 0))
	}
	return c
}

// client connects to Redis, and fails t if it does not answer.
func client(t *testing.T, addr, name string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ClientName: name})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, rdb.Ping(ctx).Err(), "cannot reach Redis at %s", addr)
	return rdb
}

func (c *cluster) managers() []*apikey.Manager {
	var ms []*apikey.Manager
	for _, r := range c.replicas {
		ms = append(ms, r.Manager)
	}
	return ms
}

// redisfeed passes the Feed conformance suite.
func TestConformance(t *testing.T) {
	addr := feedtest.DSN(t, feedtest.EnvRedis)
	apikeytest.TestFeed(t, apikeytest.FeedHarness{
		Open: func(t *testing.T) func() (apikey.Store, cache.Feed) {
			channel := "apikey-test:" + strings.ToLower(rand.Text()[:10])
			dsn := feedtest.SQLiteDSN(t)
			table := feedtest.NewTable(t, feedtest.Open(t, "sqlite", dsn), apikey.SQLite)
			return func() (apikey.Store, cache.Feed) {
				s := feedtest.Store(t, feedtest.Open(t, "sqlite", dsn), apikey.SQLite, table)
				feed := redisfeed.New(client(t, addr, ""), redisfeed.WithChannel(channel), redisfeed.WithHeartbeat(200*time.Millisecond))
				t.Cleanup(func() { feed.Close() })
				return s, feed
			}
		},
		Bound: limit,
	})
}

// subscribers counts the subscriptions to the cluster's channel.
func (c *cluster) subscribers(t *testing.T) int64 {
	n, err := c.admin.PubSubNumSub(context.Background(), c.channel).Result()
	require.NoError(t, err)
	return n[c.channel]
}

// Three replicas, caches an hour long: revoke, disable or rotate on one,
// and the others refuse within a second, 200 times.
func TestPropagation(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	require.Equal(t, int64(3), c.subscribers(t))
	st := feedtest.Propagation(t, c.replicas, 200, limit)
	t.Logf("redisfeed, 3 replicas: %v", st)
	require.Less(t, st.P99, limit)
}

// The subscribing connections are killed, and held down while a key is
// revoked: every replica refuses it once subscribed again. Nothing keeps
// running after Close, on either side.
func TestSubscriberKilled(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	c := newCluster(t)
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
	list, err := c.admin.ClientList(ctx).Result()
	require.NoError(t, err)
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+c.name+" ") && strings.Contains(line, " sub=1 ") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			require.NoError(t, c.admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err())
			killed++
		}
	}
	require.Equal(t, 3, killed)
	for _, r := range c.replicas {
		feedtest.Await(t, 5*time.Second, "the feed reports the lost connection", func() bool { return r.Feed.Disconnects() > 0 })
	}
	// The server drops a subscription when it reads the client's close,
	// a moment after the client has reported it.
	feedtest.Await(t, 5*time.Second, "held: nobody subscribes", func() bool { return c.subscribers(t) == 0 })
	require.NoError(t, c.replicas[0].Manager.Revoke(ctx, k.ID)) // published to nobody
	for _, r := range c.replicas[1:] {
		_, err := r.Manager.Verify(ctx, plain)
		require.NoError(t, err, "not told: still served from the cache")
	}
	for _, release := range releases {
		release()
	}
	start := time.Now()
	feedtest.Refuse(t, c.managers()[1:], plain, apikey.ErrUnknownKey, 5*time.Second)
	t.Logf("revoked while the subscribers were down, refused %v after they were let reconnect", time.Since(start).Round(time.Millisecond))
	feedtest.Await(t, 5*time.Second, "three subscribers again", func() bool { return c.subscribers(t) == 3 })
	st := feedtest.Propagation(t, c.replicas, 30, limit)
	t.Logf("after the reconnection: %v", st)

	for i, r := range c.replicas {
		r.Close()
		require.NoError(t, c.feeds[i].Close())
	}
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
	require.Zero(t, c.subscribers(t))
}

// A dead Redis never blocks a request nor lets one through: verification
// and the writes that publish return at once, and Close gives up in time.
func TestRedisUnreachable(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	feed := redisfeed.New(rdb)
	obs := feedtest.Observe(feed)
	cached := cache.New(apikey.NewMemoryStore(), cache.WithFeed(obs))
	m := apikey.New(cached, apikey.WithLastUsedInterval(0))
	plain, k, err := m.Create(ctx, apikey.NewKey{Owner: "alice", MaxUses: 2})
	require.NoError(t, err)
	feedtest.Await(t, 5*time.Second, "the failures are reported", func() bool { return obs.Disconnects() >= 2 })
	for range 2 {
		start := time.Now()
		_, err = m.Verify(ctx, plain) // the second spends the last use, which publishes
		require.NoError(t, err)
		require.Less(t, time.Since(start), 100*time.Millisecond, "verification does not wait for Redis")
	}
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted)
	start := time.Now()
	_, err = m.Disable(ctx, k.ID)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 100*time.Millisecond, "a write does not wait for Redis")

	require.NoError(t, cached.Close())
	start = time.Now()
	require.Error(t, feed.Close(), "what could not be published is reported")
	require.Less(t, time.Since(start), 10*time.Second)
	require.ErrorIs(t, feed.Publish(ctx, k.ID), redisfeed.ErrClosed)
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
}

func TestNewPanicsOnMisconfiguration(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	require.Panics(t, func() { redisfeed.New(nil) })
	require.Panics(t, func() { redisfeed.New(rdb, redisfeed.WithChannel("")) })
	require.Panics(t, func() { redisfeed.New(rdb, redisfeed.WithHeartbeat(0)) })
	require.NoError(t, redisfeed.New(rdb).Close(), "closing an unused feed")
}
