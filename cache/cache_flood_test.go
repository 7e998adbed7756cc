package cache_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flood of distinct well-formed bad keys (anyone can compute the
// checksum) fills at most a quarter of the cache, so the keys in use stay
// cached and cost no round trip.
func TestCacheFloodOfUnknownKeysKeepsFoundOnes(t *testing.T) {
	ctx := context.Background()
	backend := newSpyStore()
	cached := cache.New(backend, cache.WithSize(8))
	m := newManager(t, cached)
	var good []string
	for range 8 {
		p, _ := mustCreate(t, m, apikey.NewKey{})
		good = append(good, p)
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
	}
	require.Equal(t, 8, cached.Len())
	stranger := newManager(t, apikey.NewMemoryStore())
	for range 100 {
		bad, _ := mustCreate(t, stranger, apikey.NewKey{})
		_, err := m.Verify(ctx, bad)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	before := backend.Finds.Load()
	for _, p := range good {
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
	}
	assert.Equal(t, before, backend.Finds.Load(), "the found keys are still cached")
	assert.Equal(t, 8, cached.Len())

	// Room made by a revocation goes to unknown digests, up to a quarter.
	k, err := m.List(ctx, apikey.ListOptions{Owner: "alice", Limit: 3})
	require.NoError(t, err)
	for _, key := range k.Keys {
		require.NoError(t, m.Revoke(ctx, key.ID))
	}
	for range 10 {
		bad, _ := mustCreate(t, stranger, apikey.NewKey{})
		_, err := m.Verify(ctx, bad)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	assert.Equal(t, 5+2, cached.Len(), "five found keys and two unknown digests")
	retried := backend.Finds.Load()
	for range 3 {
		bad, _ := mustCreate(t, stranger, apikey.NewKey{})
		_, _ = m.Verify(ctx, bad)
		_, _ = m.Verify(ctx, bad)
	}
	assert.Equal(t, retried+3, backend.Finds.Load(), "a retried bad key is still remembered")
}

// A reconnecting feed empties the cache; the unknown digests it held must
// go too, or one that later becomes a found key could be taken for an
// unknown digest and pushed out by the next one.
func TestCacheFeedReconnectForgetsUnknownDigests(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	backend := newSpyStore()
	f := newMemBus().feed()
	cached := cache.New(backend, cache.WithFeed(f), cache.WithSize(4),
		cache.WithTTL(time.Hour), cache.WithClock(clock.Now))
	t.Cleanup(func() { cached.Close() })
	sub := <-f.subscribed

	x := sha256.Sum256([]byte("x"))
	_, err := cached.FindByDigest(ctx, x[:])
	require.ErrorIs(t, err, apikey.ErrNotFound, "x is cached as unknown")
	f.bus.set(sub, true)
	f.bus.set(sub, false) // reconnected: the cache is emptied
	require.Equal(t, 0, cached.Len())

	// Another process creates a key with digest x; here it is found and
	// cached. An unknown digest then comes in: the one place for unknown
	// digests (a quarter of 4) is free, and x must stay.
	require.NoError(t, backend.MemoryStore.Create(ctx, apikey.Key{ID: "k1", Owner: "alice", Digest: x[:], Enabled: true}))
	_, err = cached.FindByDigest(ctx, x[:])
	require.NoError(t, err)
	y := sha256.Sum256([]byte("y"))
	_, err = cached.FindByDigest(ctx, y[:])
	require.ErrorIs(t, err, apikey.ErrNotFound)

	before := backend.Finds.Load()
	_, err = cached.FindByDigest(ctx, x[:])
	require.NoError(t, err)
	assert.Equal(t, before, backend.Finds.Load(), "x is still cached")
	assert.Equal(t, 2, cached.Len())
}
