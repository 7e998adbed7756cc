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

func TestLimiterWindows(t *testing.T) {
	rdb := redisClient(t)
	l := redislimit.New(rdb, redislimit.WithPrefix(testPrefix(t, rdb)))
	ctx := context.Background()
	limit := apikey.RateLimit{Limit: 2, Window: time.Minute}
	now := t0.Add(15 * time.Second)
	for i, want := range []bool{true, true, false, false} {
		st, err := l.Allow(ctx, "k1", limit, now)
		require.NoError(t, err)
		assert.Equal(t, want, st.Allowed, "request %d", i)
		assert.Equal(t, 2, st.Limit)
		assert.Equal(t, 45*time.Second, st.Reset)
		assert.Equal(t, max(1-i, 0), st.Remaining)
	}
	st, err := l.Allow(ctx, "k2", limit, now)
	require.NoError(t, err)
	assert.True(t, st.Allowed, "keys are counted apart")
	st, err = l.Allow(ctx, "k1", limit, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.True(t, st.Allowed, "a new window starts afresh")
	_, err = l.Allow(ctx, "k1", apikey.RateLimit{}, now)
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
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
