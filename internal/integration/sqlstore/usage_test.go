package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
)

// Review finding (stage 2, 1): a spent usage-limited key must not freeze a
// small connection pool. On MySQL, SpendUse held a connection and asked the
// pool for a second one to tell why nothing was spent, so concurrent
// requests with a spent key each held one and waited for another until
// their deadline (503), and requests with other keys waited too.
func TestSpentKeyDoesNotExhaustThePool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		db.SetMaxOpenConns(4)
		s, _ := newTable(t, db, b.dialect)
		m := newManager(t, s)
		spent, _ := mustCreate(t, m, apikey.NewKey{MaxUses: 1})
		_, err := m.Verify(context.Background(), spent)
		require.NoError(t, err)
		other, _ := mustCreate(t, m, apikey.NewKey{})
		h := m.Middleware()(whoami)

		const workers, each = 16, 4
		var mu sync.Mutex
		var spentTook []time.Duration
		var wg sync.WaitGroup
		var otherOK atomic.Int64
		request := func(key string) (int, time.Duration) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			code := serve(h, get("/", "X-API-Key", key).WithContext(ctx)).Code
			return code, time.Since(start)
		}
		for range workers {
			wg.Go(func() {
				for range each {
					code, took := request(spent)
					assert.Equal(t, http.StatusPaymentRequired, code, "a spent key is refused for its usage limit")
					mu.Lock()
					spentTook = append(spentTook, took)
					mu.Unlock()
				}
			})
		}
		for range 2 {
			wg.Go(func() {
				for range each {
					if code, _ := request(other); assert.Equal(t, http.StatusOK, code, "an unrelated key keeps working") {
						otherOK.Add(1)
					}
				}
			})
		}
		wg.Wait()
		slices.Sort(spentTook)
		median, slowest := spentTook[len(spentTook)/2], spentTook[len(spentTook)-1]
		t.Logf("%s, pool of 4, %d refusals of a spent key: median %v, slowest %v", b.name, len(spentTook), median, slowest)
		assert.Less(t, slowest, time.Second, "refusals come in milliseconds, not at the deadline")
		assert.Equal(t, int64(2*each), otherOK.Load())
	})
}

// Review finding (stage 2, 2): rotation moves a usage budget, never copies
// it. Another replica whose cache still holds the old key cannot spend the
// old row's uses once it is rotated, so old and new key together make
// exactly MaxUses requests.
func TestRotationMovesUsesAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		_, table := newTable(t, db, b.dialect)
		clock := newFakeClock()
		const ttl, maxUses = time.Hour, 20
		a := replica(t, db, b.dialect, table, clock, ttl)
		bb := replica(t, db, b.dialect, table, clock, ttl)
		oldPlain, k := mustCreate(t, a, apikey.NewKey{MaxUses: maxUses})
		_, err := bb.Verify(ctx, oldPlain) // B caches the old key
		require.NoError(t, err)
		successes := 1

		newPlain, next, err := a.Rotate(ctx, k.ID, 0)
		require.NoError(t, err)
		rememberKeys(newPlain)
		require.Equal(t, int64(maxUses-1), *next.RemainingUses, "the uses left moved")

		spend := func(m *apikey.Manager, key string) (n int, last error) {
			for range 2 * maxUses {
				if _, err := m.Verify(ctx, key); err != nil {
					return n, err
				}
				n++
			}
			return n, nil
		}
		n, err := spend(bb, oldPlain)
		assert.Zero(t, n, "B's cached old key spends nothing after the rotation")
		require.ErrorIs(t, err, apikey.ErrKeyExpired)
		n, err = spend(bb, newPlain)
		successes += n
		require.ErrorIs(t, err, apikey.ErrUsageExhausted)
		n, err = spend(a, newPlain)
		successes += n
		require.ErrorIs(t, err, apikey.ErrUsageExhausted)
		assert.Equal(t, maxUses, successes, "old and new key together make MaxUses requests")
	})
}

// A usage-limited key in steady use can be rotated: uses spent while the
// rotation runs are counted once, on the old key, and the rest move to the
// new one. Nothing is lost and nothing doubled.
func TestRotateUsageLimitedKeyInUse(t *testing.T) {
	stores := map[string]func(t *testing.T) apikey.Store{
		"memory": func(t *testing.T) apikey.Store { return apikey.NewMemoryStore() },
	}
	for _, b := range backends {
		stores[b.name] = func(t *testing.T) apikey.Store {
			s, _ := newTable(t, b.open(t), b.dialect)
			return cache.New(s)
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := open(t)
			m := newManager(t, store)
			const maxUses = 100_000
			oldPlain, k := mustCreate(t, m, apikey.NewKey{MaxUses: maxUses})
			var used atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 24 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, err := m.Verify(ctx, oldPlain)
						switch {
						case err == nil:
							used.Add(1)
						case errors.Is(err, apikey.ErrKeyExpired), errors.Is(err, apikey.ErrUnknownKey):
							// rotated away
						default:
							t.Error(err)
							return
						}
					}
				})
			}
			for used.Load() < 50 {
				time.Sleep(time.Millisecond)
			}
			newPlain, next, err := m.Rotate(ctx, k.ID, 0)
			close(stop)
			wg.Wait()
			require.NoError(t, err, "a key in use can be rotated")
			rememberKeys(newPlain)
			old, err := m.Get(ctx, k.ID)
			require.NoError(t, err)
			assert.Equal(t, int64(0), *old.RemainingUses, "the old key keeps no uses")
			assert.Equal(t, next.ID, old.RotatedTo)
			t.Logf("%d uses spent on the old key while it was rotated", used.Load())
			assert.Equal(t, int64(maxUses), used.Load()+*next.RemainingUses, "uses spent plus uses moved make the budget")
			_, err = m.Verify(ctx, newPlain)
			require.NoError(t, err)
		})
	}
}

// Two Managers on one database, N requests racing for K credits that a
// refill just gave back: exactly K succeed, on every backend.
func TestCreditsAcrossManagers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, _ := newTable(t, db, b.dialect)
		clock := newFakeClock()
		a := newManager(t, s, apikey.WithClock(clock.Now))
		other := newManager(t, s, apikey.WithClock(clock.Now))
		const credits = 25
		plain, _ := mustCreate(t, a, apikey.NewKey{Refill: &apikey.Refill{Amount: credits, Interval: apikey.RefillDaily}})
		for range credits {
			_, err := a.Verify(ctx, plain)
			require.NoError(t, err)
		}
		_, err := other.Verify(ctx, plain)
		require.ErrorIs(t, err, apikey.ErrUsageExhausted)
		clock.Advance(24 * time.Hour) // a refill is due
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			m := a
			if g%2 == 1 {
				m = other
			}
			wg.Go(func() {
				for range 10 {
					_, err := m.Verify(ctx, plain)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, apikey.ErrUsageExhausted):
						refused.Add(1)
					default:
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(credits), ok.Load(), "exactly the refilled credits")
		assert.Equal(t, int64(80-credits), refused.Load())
	})
}

// Two Managers on one database, the keys of one owner racing for the uses
// the owner's policy shares: exactly that many succeed, on every backend.
func TestOwnerCreditsAcrossManagers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, _ := newTable(t, db, b.dialect)
		a := newManager(t, s)
		other := newManager(t, s)
		k1, _ := mustCreate(t, a, apikey.NewKey{Owner: "erin"})
		k2, _ := mustCreate(t, a, apikey.NewKey{Owner: "erin", MaxUses: 1000})
		const shared = 30
		n := int64(shared)
		_, err := a.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "erin", RemainingUses: &n})
		require.NoError(t, err)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			m, key := a, k1
			if g%2 == 1 {
				m = other
			}
			if g%4 >= 2 {
				key = k2
			}
			wg.Go(func() {
				for range 10 {
					_, err := m.Verify(ctx, key)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, apikey.ErrUsageExhausted):
					default:
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(shared), ok.Load(), "exactly the owner's uses, across two Managers and two keys")
		p, err := a.OwnerPolicy(ctx, "erin")
		require.NoError(t, err)
		assert.Equal(t, int64(0), *p.RemainingUses)
		assert.Equal(t, int64(shared), p.UsesSpent)
	})
}
