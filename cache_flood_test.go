package apikey_test

import (
	"context"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flood of distinct well-formed bad keys (anyone can compute the
// checksum) fills at most a quarter of the cache, so the keys in use stay
// cached and cost no round trip.
func TestCacheFloodOfUnknownKeysKeepsFoundOnes(t *testing.T) {
	ctx := context.Background()
	backend := newSpyStore()
	cache := apikey.NewCachedStore(backend, apikey.WithCacheSize(8))
	m := newManager(t, cache)
	var good []string
	for range 8 {
		p, _ := mustCreate(t, m, apikey.NewKey{})
		good = append(good, p)
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
	}
	require.Equal(t, 8, cache.Len())
	stranger := newManager(t, apikey.NewMemoryStore())
	for range 100 {
		bad, _ := mustCreate(t, stranger, apikey.NewKey{})
		_, err := m.Verify(ctx, bad)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	before := backend.finds.Load()
	for _, p := range good {
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
	}
	assert.Equal(t, before, backend.finds.Load(), "the found keys are still cached")
	assert.Equal(t, 8, cache.Len())

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
	assert.Equal(t, 5+2, cache.Len(), "five found keys and two unknown digests")
	retried := backend.finds.Load()
	for range 3 {
		bad, _ := mustCreate(t, stranger, apikey.NewKey{})
		_, _ = m.Verify(ctx, bad)
		_, _ = m.Verify(ctx, bad)
	}
	assert.Equal(t, retried+3, backend.finds.Load(), "a retried bad key is still remembered")
}
