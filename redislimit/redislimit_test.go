package redislimit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/go-apikey/apikey/redislimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

// redisClient connects to the Redis named by APIKEY_REDIS_ADDR, or skips
// the test when it is unset. A set address that does not answer fails.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	addr := testkit.Need(t, testkit.EnvRedis)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, rdb.Ping(ctx).Err(), "cannot reach Redis at %s", addr)
	return rdb
}

// testPrefix keeps each test's counters apart, and removes them after.
func testPrefix(t *testing.T, rdb *redis.Client) string {
	p := "apikey-test:" + rand.Text()[:10] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, p+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return p
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The Redis limiter passes the Limiter suite, two limiters on one Redis
// counting together.
func TestLimiterConformance(t *testing.T) {
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	apikeytest.TestLimiter(t, func(*testing.T) apikey.Limiter { return redislimit.New(rdb, redislimit.WithPrefix(prefix)) }, true)
}

// countHook counts the round trips a client makes to Redis.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// A key with three named limits costs one Redis round trip per request,
// as a key with one does: one script (EVALSHA) for all its limits.
func TestSeveralLimitsOneRoundTrip(t *testing.T) {
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	hook := &countHook{}
	rdb.AddHook(hook)
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLimiter(redislimit.New(rdb, redislimit.WithPrefix(prefix))))
	defer m.Close()
	ctx := context.Background()
	three, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice", RateLimits: []apikey.RateLimit{
		{Name: "burst", Limit: 100, Window: time.Second},
		{Name: "hourly", Limit: 1000, Window: time.Hour},
		{Name: "daily", Limit: 10000, Window: 24 * time.Hour},
	}})
	require.NoError(t, err)
	one, _, err := m.Create(ctx, apikey.NewKey{Owner: "bob", RateLimit: apikey.RateLimit{Limit: 100, Window: time.Second}})
	require.NoError(t, err)
	for _, key := range []string{three, one} {
		_, err := m.Verify(ctx, key) // loads the script on first use (EVALSHA, then EVAL)
		require.NoError(t, err)
		before := hook.n.Load()
		for range 10 {
			_, err := m.Verify(ctx, key)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(10), hook.n.Load()-before, "one round trip per request")
	}
}

// Two replicas, each with its own Manager and Limiter on one Redis and one
// key store: the key's limit holds across both, exactly.
func TestLimitAcrossManagers(t *testing.T) {
	rdb := redisClient(t)
	prefix := testPrefix(t, rdb)
	store := apikey.NewMemoryStore()
	clock := func() time.Time { return t0.Add(10 * time.Second) }
	replica := func() http.Handler {
		m := apikey.New(store, apikey.WithClock(clock), apikey.WithLimiter(redislimit.New(rdb, redislimit.WithPrefix(prefix))))
		t.Cleanup(func() { m.Close() })
		return m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	}
	a, b := replica(), replica()
	creator := apikey.New(store)
	plain, _, err := creator.Create(context.Background(), apikey.NewKey{Owner: "alice", RateLimit: apikey.RateLimit{Limit: 20, Window: time.Minute}})
	require.NoError(t, err)

	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		h := a
		if g%2 == 1 {
			h = b
		}
		wg.Go(func() {
			for range 10 {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.Header.Set("X-API-Key", plain)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				switch w.Code {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusTooManyRequests:
					limited.Add(1)
					assert.Equal(t, "50", w.Header().Get("Retry-After"))
				default:
					t.Errorf("status %d", w.Code)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(20), ok.Load(), "the limit holds across replicas")
	assert.Equal(t, int64(40), limited.Load())
}

func TestRedisDownFailsClosed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLimiter(redislimit.New(rdb)), apikey.WithDefaultRateLimit(10, time.Second))
	defer m.Close()
	plain, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	_, err = m.Verify(context.Background(), plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	assert.False(t, errors.Is(err, apikey.ErrRateLimited))
}

// BenchmarkVerify measures a verification whose limits Redis counts: a key
// with three named limits beside a key with one, with the Redis round
// trips each costs (roundtrips/op, counted by a hook, not guessed):
//
//	go test -run '^$' -bench Verify -count 6 ./redislimit | benchstat -col /limits -
func BenchmarkVerify(b *testing.B) {
	addr := testkit.Need(b, testkit.EnvRedis)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	hook := &countHook{}
	rdb.AddHook(hook)
	prefix := "apikey-bench:" + rand.Text()[:10] + ":"
	defer func() {
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}()
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Minute),
		apikey.WithLimiter(redislimit.New(rdb, redislimit.WithPrefix(prefix))))
	defer m.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		key  apikey.NewKey
	}{
		{"1", apikey.NewKey{Owner: "alice", RateLimit: apikey.RateLimit{Limit: 1 << 30, Window: time.Second}}},
		{"3", apikey.NewKey{Owner: "alice", RateLimits: []apikey.RateLimit{
			{Name: "second", Limit: 1 << 30, Window: time.Second},
			{Name: "minute", Limit: 1 << 30, Window: time.Minute},
			{Name: "day", Limit: 1 << 30, Window: 24 * time.Hour},
		}}},
	} {
		b.Run("limits="+c.name, func(b *testing.B) {
			plain, _, err := m.Create(ctx, c.key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Verify(ctx, plain); err != nil { // loads the script
				b.Fatal(err)
			}
			before := hook.n.Load()
			for b.Loop() {
				if _, err := m.Verify(ctx, plain); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(hook.n.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}
