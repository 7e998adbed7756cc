package cache_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedStore holds its first FindByDigest, after reading the record, until
// release is closed or the caller's context ends, and can make that first
// call panic instead; later calls go straight through. It counts calls.
type gatedStore struct {
	*apikey.MemoryStore
	calls      atomic.Int64
	entered    chan struct{} // closed when the first call is held
	release    chan struct{}
	panicFirst bool
}

func newGatedStore() *gatedStore {
	return &gatedStore{MemoryStore: apikey.NewMemoryStore(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (s *gatedStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	k, err := s.MemoryStore.FindByDigest(ctx, d)
	if s.calls.Add(1) != 1 {
		return k, err
	}
	close(s.entered)
	select {
	case <-s.release:
	case <-ctx.Done():
		return apikey.Key{}, ctx.Err()
	}
	if s.panicFirst {
		panic("store panics")
	}
	return k, err
}

// storeKey puts an enabled key with the digest of secret in store.
func storeKey(t *testing.T, store apikey.Store, id, secret string) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(secret))
	require.NoError(t, store.Create(context.Background(), apikey.Key{ID: id, Owner: "alice", Digest: d[:], Enabled: true}))
	return d[:]
}

// receive returns the next value from ch, and fails t if none comes within
// 5 seconds: a caller stuck waiting fails the test rather than hanging it.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no answer within 5 s")
		panic("unreachable")
	}
}

// settle gives goroutines that are about to look up a digest the time to
// do so. Were concurrent misses not shared, they would reach the store in
// it, and the call counts checked after it would be above one.
func settle() { time.Sleep(50 * time.Millisecond) }

func TestCacheMissesShareOneLookup(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		known   bool
		options []cache.Option
	}{
		{"found", true, nil},
		{"not found", false, nil},
		{"not found, no negative caching", false, []cache.Option{cache.WithNegativeTTL(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newGatedStore()
			digest := sha256.Sum256([]byte("unknown"))
			if tc.known {
				copy(digest[:], storeKey(t, store.MemoryStore, "k1", "unknown"))
			}
			cached := cache.New(store, tc.options...)

			const n = 16
			var wg sync.WaitGroup
			results := make(chan error, n)
			for range n {
				wg.Go(func() {
					k, err := cached.FindByDigest(ctx, digest[:])
					if err == nil && k.ID != "k1" {
						err = assert.AnError
					}
					results <- err
				})
			}
			receive(t, store.entered)
			settle()
			assert.Equal(t, int64(1), store.calls.Load(), "the misses wait for the lookup under way")
			close(store.release)
			wg.Wait()
			close(results)
			for err := range results {
				if tc.known {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, apikey.ErrNotFound)
				}
			}
			assert.Equal(t, int64(1), store.calls.Load(), "every caller had the one answer")
		})
	}
}

func TestCacheConcurrentVerifiesShareOneLookup(t *testing.T) {
	ctx := context.Background()
	store := newGatedStore()
	m := newManager(t, cache.New(store))
	plain, k := mustCreate(t, m, apikey.NewKey{})

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			p, err := m.Verify(ctx, plain)
			if assert.NoError(t, err) {
				assert.Equal(t, k.ID, p.KeyID)
			}
		})
	}
	receive(t, store.entered)
	settle()
	assert.Equal(t, int64(1), store.calls.Load())
	close(store.release)
	wg.Wait()
	assert.Equal(t, int64(1), store.calls.Load())
}

func TestCacheWaiterKeepsItsOwnDeadline(t *testing.T) {
	store := newGatedStore()
	digest := storeKey(t, store.MemoryStore, "k1", "s")
	cached := cache.New(store)
	leader := make(chan error, 1)
	go func() {
		_, err := cached.FindByDigest(context.Background(), digest)
		leader <- err
	}()
	receive(t, store.entered)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	waiter := make(chan error, 1)
	go func() {
		_, err := cached.FindByDigest(ctx, digest)
		waiter <- err
	}()
	require.ErrorIs(t, receive(t, waiter), context.DeadlineExceeded, "the waiter returned at its deadline, not the lookup's end")
	assert.Equal(t, int64(1), store.calls.Load(), "it waited rather than asking the store")

	close(store.release)
	require.NoError(t, receive(t, leader))
}

func TestCacheLookupEndedByItsCallerDoesNotFailWaiters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		panic bool
	}{{"context ended", false}, {"store panicked", true}} {
		t.Run(tc.name, func(t *testing.T) {
			store := newGatedStore()
			store.panicFirst = tc.panic
			digest := storeKey(t, store.MemoryStore, "k1", "s")
			cached := cache.New(store)

			leaderCtx, cancelLeader := context.WithCancel(context.Background())
			defer cancelLeader()
			leader := make(chan any, 1)
			go func() {
				defer func() { leader <- recover() }()
				_, err := cached.FindByDigest(leaderCtx, digest)
				leader <- err
			}()
			receive(t, store.entered)
			waiter := make(chan error, 1)
			go func() {
				k, err := cached.FindByDigest(context.Background(), digest)
				if err == nil && k.ID != "k1" {
					err = assert.AnError
				}
				waiter <- err
			}()
			settle()
			if tc.panic {
				close(store.release)
				assert.Equal(t, "store panics", receive(t, leader), "the panic reaches the caller whose lookup it was")
			} else {
				cancelLeader()
				err, _ := receive(t, leader).(error)
				assert.ErrorIs(t, err, context.Canceled)
			}
			require.NoError(t, receive(t, waiter), "the waiter looked up again")
			assert.Equal(t, int64(2), store.calls.Load())
		})
	}
}

func TestCacheMissAfterInvalidationDoesNotJoinOlderLookup(t *testing.T) {
	ctx := context.Background()
	store := newGatedStore()
	digest := storeKey(t, store.MemoryStore, "k1", "s")
	cached := cache.New(store)
	older := make(chan apikey.Key, 1)
	go func() {
		k, err := cached.FindByDigest(ctx, digest) // reads "enabled", then is held
		assert.NoError(t, err)
		older <- k
	}()
	receive(t, store.entered)

	_, err := cached.Update(ctx, "k1", func(k *apikey.Key) error { k.Enabled = false; return nil })
	require.NoError(t, err)
	// Were it to wait for the held lookup, it would wait until this
	// deadline and fail.
	newer, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	k, err := cached.FindByDigest(newer, digest)
	require.NoError(t, err, "a lookup begun after the disable does not wait for the held one")
	assert.False(t, k.Enabled, "it reads the disabled record")

	close(store.release)
	assert.True(t, receive(t, older).Enabled, "the held lookup read before the disable")
	k, err = cached.FindByDigest(ctx, digest)
	require.NoError(t, err)
	assert.False(t, k.Enabled, "and its answer did not replace the newer one")
}

// A panic in code of the user's that the cache calls (here the clock)
// reaches the caller and leaves the cache working: no lock held, no lookup
// left under way for later callers to wait on. A first miss reads the clock
// after its lookup (read 1); a call an hour later reads it at the hit
// check (2), again once the lock is taken (3), and after its lookup (4).
func TestCachePanicOnMissLeavesCacheWorking(t *testing.T) {
	ctx := context.Background()
	for panicAt := int64(1); panicAt <= 4; panicAt++ {
		t.Run(fmt.Sprint("clock read ", panicAt), func(t *testing.T) {
			store := apikey.NewMemoryStore()
			digest := storeKey(t, store, "k1", "s")
			base := time.Now()
			var reads atomic.Int64
			clock := func() time.Time {
				n := reads.Add(1)
				if n == panicAt {
					panic("clock panics")
				}
				if n >= 2 {
					return base.Add(time.Hour) // the entry from read 1 has expired
				}
				return base
			}
			cached := cache.New(store, cache.WithClock(clock))
			find := func() (panicked any, err error) {
				done := make(chan struct{})
				go func() {
					defer close(done)
					defer func() { panicked = recover() }()
					var k apikey.Key
					k, err = cached.FindByDigest(ctx, digest)
					if err == nil && k.ID != "k1" {
						err = assert.AnError
					}
				}()
				receive(t, done)
				return panicked, err
			}
			for call := range 3 {
				panicked, err := find()
				if wantPanic := (call == 0 && panicAt == 1) || (call == 1 && panicAt > 1); wantPanic {
					assert.Equal(t, "clock panics", panicked, "call %d: the panic reaches the caller", call)
					continue
				}
				require.Nil(t, panicked, "call %d", call)
				require.NoError(t, err, "call %d: the cache still works", call)
			}
			assert.GreaterOrEqual(t, reads.Load(), panicAt, "the clock was read there")
		})
	}
}

// heldStore holds every FindByDigest, after reading the record, until the
// test closes the channel the call hands it.
type heldStore struct {
	*apikey.MemoryStore
	calls chan chan struct{}
}

func (s *heldStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	k, err := s.MemoryStore.FindByDigest(ctx, d)
	release := make(chan struct{})
	s.calls <- release
	<-release
	return k, err
}

// A lookup that ends after a newer one began for the same digest leaves
// the newer one in place, for later misses to join.
func TestCacheOlderLookupEndingKeepsNewerOne(t *testing.T) {
	ctx := context.Background()
	store := &heldStore{MemoryStore: apikey.NewMemoryStore(), calls: make(chan chan struct{}, 10)}
	digest := storeKey(t, store.MemoryStore, "k1", "s")
	cached := cache.New(store)
	find := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := cached.FindByDigest(ctx, digest)
			done <- err
		}()
		return done
	}

	older := find()
	releaseOlder := receive(t, store.calls)
	cached.Invalidate("k1") // the next miss does not join the older lookup
	newer := find()
	releaseNewer := receive(t, store.calls)
	close(releaseOlder)
	require.NoError(t, receive(t, older))

	joiner := find()
	settle()
	select {
	case <-store.calls:
		t.Fatal("a miss while the newer lookup is under way sent its own")
	default:
	}
	close(releaseNewer)
	require.NoError(t, receive(t, newer))
	require.NoError(t, receive(t, joiner))
}

// Cached keys are shared by every hit, so a write replaces an entry's key
// rather than changing it: under -race, hits racing RecordLastUsed show it.
func TestCacheRecordLastUsedRacingHits(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	digest := storeKey(t, store, "k1", "s")
	cached := cache.New(store)
	_, err := cached.FindByDigest(ctx, digest)
	require.NoError(t, err)

	start := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			k, err := cached.FindByDigest(ctx, digest)
			if !assert.NoError(t, err) {
				return
			}
			if !k.LastUsedAt.IsZero() && k.LastUsedAt.Before(start) {
				assert.Fail(t, "last used time went back")
				return
			}
		}
	})
	var last time.Time
	for i := range 1000 {
		last = start.Add(time.Duration(i) * time.Second)
		require.NoError(t, cached.RecordLastUsed(ctx, map[string]time.Time{"k1": last}))
	}
	close(stop)
	wg.Wait()
	k, err := cached.FindByDigest(ctx, digest)
	require.NoError(t, err)
	assert.True(t, k.LastUsedAt.Equal(last), "a hit sees the last time recorded: %v", k.LastUsedAt)
}
