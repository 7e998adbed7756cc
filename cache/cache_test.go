package cache_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCacheHitCostsNoRoundTrip(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	backend := newSpyStore()
	m := newManager(t, cache.New(backend, cache.WithClock(clock.Now)), apikey.WithClock(clock.Now))
	plain, _ := mustCreate(t, m, apikey.NewKey{})

	for range 100 {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), backend.Finds.Load(), "one lookup, then hits")

	clock.Advance(cache.DefaultTTL)
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, int64(2), backend.Finds.Load(), "an expired entry is read again")
}

func TestCacheRemembersUnknownKeysBriefly(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	backend := newSpyStore()
	m := newManager(t, cache.New(backend, cache.WithClock(clock.Now), cache.WithNegativeTTL(2*time.Second)))
	unknown, _ := mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})

	for range 50 {
		_, err := m.Verify(ctx, unknown)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	assert.Equal(t, int64(1), backend.Finds.Load(), "a retried bad key reaches the store once")
	clock.Advance(2 * time.Second)
	_, err := m.Verify(ctx, unknown)
	require.ErrorIs(t, err, apikey.ErrUnknownKey)
	assert.Equal(t, int64(2), backend.Finds.Load())

	off := newSpyStore()
	m2 := newManager(t, cache.New(off, cache.WithNegativeTTL(0)))
	for range 3 {
		_, err := m2.Verify(ctx, unknown)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	assert.Equal(t, int64(3), off.Finds.Load(), "negative caching off")
}

func TestCacheLocalWritesTakeEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, cache.New(apikey.NewMemoryStore(), cache.WithClock(clock.Now)), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{})
	warm := func() {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}

	warm()
	_, err := m.Disable(ctx, k.ID)
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled, "disable is seen without waiting for the TTL")

	_, err = m.Enable(ctx, k.ID)
	require.NoError(t, err)
	warm()
	newPlain, _, err := m.Rotate(ctx, k.ID, 0)
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyExpired, "rotation ends the old key at once")

	_, err = m.Verify(ctx, newPlain)
	require.NoError(t, err)
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	for _, k := range page.Keys {
		require.NoError(t, m.Revoke(ctx, k.ID))
	}
	_, err = m.Verify(ctx, newPlain)
	require.ErrorIs(t, err, apikey.ErrUnknownKey, "revocation is seen at once")
}

// Two processes share one database, each with its own cache: a change made
// by one is seen by the other within the TTL, and not before unless told.
func TestCacheAcrossReplicasWithinTTL(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	shared := apikey.NewMemoryStore()
	cacheA := cache.New(shared, cache.WithClock(clock.Now), cache.WithTTL(10*time.Second))
	cacheB := cache.New(shared, cache.WithClock(clock.Now), cache.WithTTL(10*time.Second))
	a := newManager(t, cacheA, apikey.WithClock(clock.Now))
	b := newManager(t, cacheB, apikey.WithClock(clock.Now))

	plain, k := mustCreate(t, a, apikey.NewKey{})
	_, err := b.Verify(ctx, plain)
	require.NoError(t, err, "created on A, verified on B")

	clock.Advance(time.Second)
	_, err = a.Disable(ctx, k.ID)
	require.NoError(t, err)
	_, err = a.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled)
	_, err = b.Verify(ctx, plain)
	require.NoError(t, err, "B's cached entry is still young: the documented staleness")

	clock.Advance(9 * time.Second) // B's entry was filled 10s ago
	_, err = b.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled, "B refuses once its TTL has passed")

	// A change feed shortens the bound to the time Invalidate is called.
	_, err = a.Enable(ctx, k.ID)
	require.NoError(t, err)
	cacheB.Invalidate(k.ID)
	_, err = b.Verify(ctx, plain)
	require.NoError(t, err)
	_, err = a.Disable(ctx, k.ID)
	require.NoError(t, err)
	cacheB.Purge()
	_, err = b.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled)
}

func TestCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	cached := cache.New(apikey.NewMemoryStore(), cache.WithSize(10))
	m := newManager(t, cached)
	var plains []string
	for range 50 {
		p, _ := mustCreate(t, m, apikey.NewKey{})
		plains = append(plains, p)
	}
	for _, p := range plains {
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
		_, err = m.Verify(ctx, p[:len(p)-6]+"000000") // usually a bad checksum: no lookup
		require.Error(t, err)
		assert.LessOrEqual(t, cached.Len(), 10)
	}
	assert.Equal(t, 10, cached.Len())
}

func TestCacheDoesNotKeepErrors(t *testing.T) {
	ctx := context.Background()
	backend := newSpyStore()
	m := newManager(t, cache.New(backend))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	backend.FailWith(errors.New("down"))
	_, err := m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	backend.Heal()
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err, "a failure is not remembered as a miss")
}

func TestCacheForgetsNotFoundOnCreate(t *testing.T) {
	ctx := context.Background()
	cached := cache.New(apikey.NewMemoryStore())
	digest := sha256.Sum256([]byte("x"))
	_, err := cached.FindByDigest(ctx, digest[:])
	require.ErrorIs(t, err, apikey.ErrNotFound)
	require.NoError(t, cached.Create(ctx, apikey.Key{ID: "k1", Owner: "o", Digest: digest[:], Enabled: true}))
	k, err := cached.FindByDigest(ctx, digest[:])
	require.NoError(t, err)
	assert.Equal(t, "k1", k.ID)
}

// slowStore lets a test hold a FindByDigest after it read the record, to
// play a lookup that races with a write.
type slowStore struct {
	*apikey.MemoryStore
	hold    chan struct{}
	reading chan struct{}
}

func (s *slowStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	k, err := s.MemoryStore.FindByDigest(ctx, d)
	if hold := s.hold; hold != nil {
		close(s.reading)
		<-hold
	}
	return k, err
}

func TestCacheStaleFillAfterInvalidateIsDropped(t *testing.T) {
	ctx := context.Background()
	slow := &slowStore{MemoryStore: apikey.NewMemoryStore()}
	cached := cache.New(slow)
	m := newManager(t, cached)
	plain, k := mustCreate(t, m, apikey.NewKey{})

	hold := make(chan struct{})
	slow.hold, slow.reading = hold, make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, plain) // reads "enabled", then waits
		done <- err
	}()
	<-slow.reading
	slow.hold = nil // later lookups do not wait
	// The waiting lookup returns its stale record only after the disable
	// has been stored and has invalidated the cache.
	_, err := cached.Update(ctx, k.ID, func(k *apikey.Key) error { k.Enabled = false; return nil })
	require.NoError(t, err)
	close(hold)
	require.NoError(t, <-done, "the racing lookup itself saw the old record")

	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled, "its stale record must not have been cached")
}

func TestCacheConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, cache.New(apikey.NewMemoryStore(), cache.WithSize(20)))
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 60 {
				plain, k, err := m.Create(ctx, apikey.NewKey{Owner: fmt.Sprint(g)})
				if !assert.NoError(t, err) {
					return
				}
				for range 3 {
					_, err = m.Verify(ctx, plain)
					assert.NoError(t, err)
				}
				if i%3 == 0 {
					_, err = m.Disable(ctx, k.ID)
					assert.NoError(t, err)
					_, err = m.Verify(ctx, plain)
					assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
				}
			}
		})
	}
	wg.Wait()
}

func TestNewCachedStorePanicsOnMisconfiguration(t *testing.T) {
	s := apikey.NewMemoryStore()
	assert.Panics(t, func() { cache.New(nil) })
	assert.Panics(t, func() { cache.New(s, cache.WithTTL(0)) })
	assert.Panics(t, func() { cache.New(s, cache.WithNegativeTTL(-1)) })
	assert.Panics(t, func() { cache.New(s, cache.WithSize(0)) })
	assert.Panics(t, func() { cache.New(s, cache.WithClock(nil)) })
}

func TestCachedStoreConformance(t *testing.T) {
	apikeytest.TestStore(t, func(*testing.T) apikey.Store {
		return cache.New(apikey.NewMemoryStore())
	})
}
