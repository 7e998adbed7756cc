package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/require"
)

// replica is one process of a service: its own Manager and cache over the
// shared table.
func replica(t *testing.T, db *sql.DB, d apikey.Dialect, table string, clock *fakeClock, ttl time.Duration) *apikey.Manager {
	t.Helper()
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()), "every replica migrates at start")
	cached := cache.New(s, cache.WithClock(clock.Now), cache.WithTTL(ttl))
	return newManager(t, cached, apikey.WithClock(clock.Now))
}

// Two replicas on one database: what one does, the other honours within
// the cache TTL.
func TestReplicasWithinCacheTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		_, table := newTable(t, db, b.dialect)
		clock := newFakeClock()
		const ttl = 10 * time.Second
		a := replica(t, db, b.dialect, table, clock, ttl)
		bb := replica(t, db, b.dialect, table, clock, ttl)

		plain, k := mustCreate(t, a, apikey.NewKey{Owner: "alice", Scopes: []string{"x"}})
		p, err := bb.Verify(ctx, plain)
		require.NoError(t, err, "created on A, verified on B")
		require.Equal(t, "alice", p.Owner)

		_, err = a.Disable(ctx, k.ID)
		require.NoError(t, err)
		_, err = a.Verify(ctx, plain)
		require.ErrorIs(t, err, apikey.ErrKeyDisabled, "A refuses at once")
		clock.Advance(ttl - time.Millisecond)
		_, err = bb.Verify(ctx, plain)
		require.NoError(t, err, "B may serve its cached entry until the TTL")
		clock.Advance(time.Millisecond)
		_, err = bb.Verify(ctx, plain)
		require.ErrorIs(t, err, apikey.ErrKeyDisabled, "B refuses once the TTL has passed")

		// Rotation: the old key lives through the grace period on both
		// replicas, then dies on both.
		_, err = a.Enable(ctx, k.ID)
		require.NoError(t, err)
		clock.Advance(ttl)
		_, err = bb.Verify(ctx, plain)
		require.NoError(t, err)
		newPlain, _, err := a.Rotate(ctx, k.ID, time.Minute)
		require.NoError(t, err)
		_, err = bb.Verify(ctx, newPlain)
		require.NoError(t, err, "the new key works on B at once")
		clock.Advance(30 * time.Second)
		_, err = bb.Verify(ctx, plain)
		require.NoError(t, err, "the old key works on B during the grace period")
		clock.Advance(30 * time.Second)
		for _, m := range []*apikey.Manager{a, bb} {
			_, err = m.Verify(ctx, plain)
			require.ErrorIs(t, err, apikey.ErrKeyExpired, "the old key is dead on both after the grace period")
			_, err = m.Verify(ctx, newPlain)
			require.NoError(t, err)
		}

		// Revocation on B, seen by A within the TTL.
		page, err := bb.List(ctx, apikey.ListOptions{Owner: "alice"})
		require.NoError(t, err)
		require.Len(t, page.Keys, 2)
		for _, k := range page.Keys {
			require.NoError(t, bb.Revoke(ctx, k.ID))
		}
		clock.Advance(ttl)
		_, err = a.Verify(ctx, newPlain)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	})
}

// The same bound in real time on PostgreSQL: a disable on one replica is
// refused by the other within TTL plus a little scheduling slack.
func TestReplicasRealTimePostgres(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	_, table := newTable(t, db, apikey.Postgres)
	const ttl = 300 * time.Millisecond
	open := func() *apikey.Manager {
		s, err := apikey.NewSQLStore(db, apikey.Postgres, apikey.WithTable(table))
		require.NoError(t, err)
		return newManager(t, cache.New(s, cache.WithTTL(ttl)))
	}
	a, b := open(), open()
	plain, k := mustCreate(t, a, apikey.NewKey{})
	_, err := b.Verify(ctx, plain)
	require.NoError(t, err)

	_, err = a.Disable(ctx, k.ID)
	require.NoError(t, err)
	start := time.Now()
	for {
		_, err = b.Verify(ctx, plain)
		if err != nil {
			break
		}
		require.Less(t, time.Since(start), ttl+time.Second, "B still accepts the disabled key")
		time.Sleep(10 * time.Millisecond)
	}
	require.ErrorIs(t, err, apikey.ErrKeyDisabled)
	t.Logf("disabled on A, refused on B after %v (TTL %v)", time.Since(start).Round(time.Millisecond), ttl)
}
