package apikey_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
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
		options []apikey.CacheOption
	}{
		{"found", true, nil},
		{"not found", false, nil},
		{"not found, no negative caching", false, []apikey.CacheOption{apikey.WithNegativeCacheTTL(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newGatedStore()
			digest := sha256.Sum256([]byte("unknown"))
			if tc.known {
				copy(digest[:], storeKey(t, store.MemoryStore, "k1", "unknown"))
			}
			cache := apikey.NewCachedStore(store, tc.options...)

			const n = 16
			var wg sync.WaitGroup
			results := make(chan error, n)
			for range n {
				wg.Go(func() {
					k, err := cache.FindByDigest(ctx, digest[:])
					if err == nil && k.ID != "k1" {
						err = assert.AnError
					}
					results <- err
				})
			}
			<-store.entered
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
	m := newManager(t, apikey.NewCachedStore(store))
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
	<-store.entered
	settle()
	assert.Equal(t, int64(1), store.calls.Load())
	close(store.release)
	wg.Wait()
	assert.Equal(t, int64(1), store.calls.Load())
}

func TestCacheWaiterKeepsItsOwnDeadline(t *testing.T) {
	store := newGatedStore()
	digest := storeKey(t, store.MemoryStore, "k1", "s")
	cache := apikey.NewCachedStore(store)
	leader := make(chan error, 1)
	go func() {
		_, err := cache.FindByDigest(context.Background(), digest)
		leader <- err
	}()
	<-store.entered

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	waiter := make(chan error, 1)
	go func() {
		_, err := cache.FindByDigest(ctx, digest)
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
			cache := apikey.NewCachedStore(store)

			leaderCtx, cancelLeader := context.WithCancel(context.Background())
			defer cancelLeader()
			leader := make(chan any, 1)
			go func() {
				defer func() { leader <- recover() }()
				_, err := cache.FindByDigest(leaderCtx, digest)
				leader <- err
			}()
			<-store.entered
			waiter := make(chan error, 1)
			go func() {
				k, err := cache.FindByDigest(context.Background(), digest)
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
	cache := apikey.NewCachedStore(store)
	older := make(chan apikey.Key, 1)
	go func() {
		k, err := cache.FindByDigest(ctx, digest) // reads "enabled", then is held
		assert.NoError(t, err)
		older <- k
	}()
	<-store.entered

	_, err := cache.Update(ctx, "k1", func(k *apikey.Key) error { k.Enabled = false; return nil })
	require.NoError(t, err)
	// Were it to wait for the held lookup, it would wait until this
	// deadline and fail.
	newer, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	k, err := cache.FindByDigest(newer, digest)
	require.NoError(t, err, "a lookup begun after the disable does not wait for the held one")
	assert.False(t, k.Enabled, "it reads the disabled record")

	close(store.release)
	assert.True(t, receive(t, older).Enabled, "the held lookup read before the disable")
	k, err = cache.FindByDigest(ctx, digest)
	require.NoError(t, err)
	assert.False(t, k.Enabled, "and its answer did not replace the newer one")
}
