package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateAndVerify(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithPrefix("lbk"), apikey.WithClock(clock.Now))
	plain, k, err := m.Create(ctx, apikey.NewKey{
		Owner: "alice", Name: "ci", Description: "builds",
		Scopes:   []string{"bots:read", "bots:write", "bots:read"},
		Metadata: map[string]string{"team": "infra"},
	})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(plain, "lbk_"))
	assert.Len(t, k.ID, 26)
	assert.Equal(t, plain[:8], k.Start)
	assert.Equal(t, "sha256", k.Hash)
	assert.True(t, k.Enabled)
	assert.Equal(t, []string{"bots:read", "bots:write"}, k.Scopes, "duplicates dropped")
	assert.Equal(t, clock.Now(), k.CreatedAt)
	assert.True(t, k.ExpiresAt.IsZero())

	p, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, []string{k.ID, "alice", "ci"}, []string{p.KeyID, p.Owner, p.Name})
	assert.Equal(t, apikey.KindKey, p.Kind())
	assert.Equal(t, []string{"bots:read", "bots:write"}, p.Scopes())
	v, ok := p.MetadataValue("team")
	assert.True(t, ok)
	assert.Equal(t, "infra", v)

	// A handler changing what it was given changes nothing stored.
	p.Scopes()[0] = "admin"
	p.Metadata()["team"] = "mallory"
	again, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, []string{"bots:read", "bots:write"}, again.Scopes())
	assert.Equal(t, map[string]string{"team": "infra"}, again.Metadata())

	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, k, got)
}

func TestStoreNeverHoldsPlaintext(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	m := newManager(t, store)
	var plains []string
	for i := range 20 {
		plain, _ := mustCreate(t, m, apikey.NewKey{Name: fmt.Sprint("k", i), Metadata: map[string]string{"n": fmt.Sprint(i)}})
		plains = append(plains, plain)
	}
	keys, err := store.List(ctx, apikey.ListOptions{Limit: 100})
	require.NoError(t, err)
	require.Len(t, keys, 20)
	for _, k := range keys {
		record := fmt.Sprintf("%+v %s", k, k.Digest)
		for _, plain := range plains {
			secret := plain[len("ak_"):]
			assert.NotContains(t, record, secret)
			// Not even a long run of the secret: only Start's 4 characters.
			assert.NotContains(t, record, secret[:12])
		}
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	bigMeta := map[string]string{}
	for i := range 65 {
		bigMeta[fmt.Sprint(i)] = "v"
	}
	tests := map[string]apikey.NewKey{
		"no owner":             {},
		"owner too long":       {Owner: strings.Repeat("a", 257)},
		"owner with newline":   {Owner: "a\nb"},
		"owner bad UTF-8":      {Owner: "a\xffb"},
		"name with NUL":        {Owner: "a", Name: "x\x00"},
		"empty scope":          {Owner: "a", Scopes: []string{""}},
		"scope with space":     {Owner: "a", Scopes: []string{"bots read"}},
		"scope with comma":     {Owner: "a", Scopes: []string{"a,b"}},
		"too many scopes":      {Owner: "a", Scopes: many},
		"empty metadata key":   {Owner: "a", Metadata: map[string]string{"": "v"}},
		"too much metadata":    {Owner: "a", Metadata: bigMeta},
		"expiry in the past":   {Owner: "a", ExpiresAt: clock.Now().Add(-time.Second)},
		"expiry now":           {Owner: "a", ExpiresAt: clock.Now()},
		"description too long": {Owner: "a", Description: strings.Repeat("d", 4097)},
	}
	for name, nk := range tests {
		t.Run(name, func(t *testing.T) {
			_, _, err := m.Create(context.Background(), nk)
			assert.ErrorIs(t, err, apikey.ErrInvalidInput)
		})
	}
	// Multi-line descriptions and unicode names are fine.
	mustCreate(t, m, apikey.NewKey{Name: "clé ✓", Description: "line 1\nline 2\tend"})
}

func TestVerifyOutcomes(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithClock(clock.Now))
	other := newManager(t, apikey.NewMemoryStore(), apikey.WithPrefix("zz"))

	valid, _ := mustCreate(t, m, apikey.NewKey{})
	disabled, dk := mustCreate(t, m, apikey.NewKey{})
	_, err := m.Disable(ctx, dk.ID)
	require.NoError(t, err)
	expiring, _ := mustCreate(t, m, apikey.NewKey{ExpiresAt: clock.Now().Add(time.Hour)})
	revoked, rk := mustCreate(t, m, apikey.NewKey{})
	require.NoError(t, m.Revoke(ctx, rk.ID))
	foreign, _ := mustCreate(t, other, apikey.NewKey{})
	neverIssued := strings.Replace(foreign, "zz_", "ak_", 1) // right shape, checksum now wrong
	unknown, _ := mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})

	clock.Advance(time.Hour)
	tests := []struct {
		name      string
		key       string
		want      error
		storeHits int64
	}{
		{"valid", valid, nil, 1},
		{"disabled", disabled, apikey.ErrKeyDisabled, 1},
		{"expired", expiring, apikey.ErrKeyExpired, 1},
		{"revoked", revoked, apikey.ErrUnknownKey, 1},
		{"never issued here", unknown, apikey.ErrUnknownKey, 1},
		{"other prefix", foreign, apikey.ErrMalformedKey, 0},
		{"bad checksum", neverIssued, apikey.ErrMalformedKey, 0},
		{"empty", "", apikey.ErrMalformedKey, 0},
		{"garbage", "not a key", apikey.ErrMalformedKey, 0},
		{"oversized", strings.Repeat("a", 2048), apikey.ErrMalformedKey, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := store.Finds.Load()
			p, err := m.Verify(ctx, tt.key)
			assert.Equal(t, tt.storeHits, store.Finds.Load()-before, "store lookups")
			if tt.want == nil {
				require.NoError(t, err)
				assert.Equal(t, "alice", p.Owner)
				return
			}
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, apikey.Principal{}, p)
			assert.NotErrorIs(t, err, apikey.ErrStoreUnavailable)
		})
	}

	// Re-enabling works.
	_, err = m.Enable(ctx, dk.ID)
	require.NoError(t, err)
	_, err = m.Verify(ctx, disabled)
	require.NoError(t, err)
}

func TestVerifyStoreFailureIsNotInvalidKey(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	m := newManager(t, store)
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	boom := errors.New("connection refused")
	store.FailWith(boom)
	_, err := m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, apikey.ErrUnknownKey)
	store.Heal()
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err, "recovers by itself once the store is back")
}

func TestVerifyCanceledContext(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	plain, _ := mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable, "an unfinished lookup must not read as an unknown key")
	require.ErrorIs(t, err, context.Canceled)
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	oldPlain, old := mustCreate(t, m, apikey.NewKey{Name: "ci", Scopes: []string{"a"}, Metadata: map[string]string{"m": "1"}})

	newPlain, next, err := m.Rotate(ctx, old.ID, time.Hour)
	require.NoError(t, err)
	assert.NotEqual(t, old.ID, next.ID)
	assert.NotEqual(t, oldPlain, newPlain)
	assert.Equal(t, old.Owner, next.Owner)
	assert.Equal(t, old.Name, next.Name)
	assert.Equal(t, old.Scopes, next.Scopes)
	assert.Equal(t, old.Metadata, next.Metadata)

	// The old key's expiry ends its grace: it may come earlier, never
	// later nor go, which would bring back a retired key.
	retired, err := m.Get(ctx, old.ID)
	require.NoError(t, err)
	for _, t2 := range []time.Time{{}, retired.ExpiresAt.Add(time.Microsecond), clock.Now().Add(24 * time.Hour)} {
		_, err = m.Update(ctx, old.ID, apikey.SetExpiry(t2), apikey.SetName("renamed"))
		require.ErrorIs(t, err, apikey.ErrConflict, t2)
		assert.Contains(t, err.Error(), "was rotated to "+next.ID)
	}
	_, err = m.Update(ctx, old.ID, apikey.SetExpiry(retired.ExpiresAt))
	require.NoError(t, err, "the same expiry")
	unchanged, err := m.Get(ctx, old.ID)
	require.NoError(t, err)
	assert.Equal(t, retired.ExpiresAt, unchanged.ExpiresAt)
	assert.Equal(t, "ci", unchanged.Name, "a refused change changes nothing")

	// During the grace period both keys work.
	clock.Advance(59 * time.Minute)
	_, err = m.Verify(ctx, oldPlain)
	require.NoError(t, err)
	_, err = m.Verify(ctx, newPlain)
	require.NoError(t, err)

	// After it, only the new one.
	clock.Advance(time.Minute)
	_, err = m.Verify(ctx, oldPlain)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)
	_, err = m.Verify(ctx, newPlain)
	require.NoError(t, err)

	// An expired key cannot be rotated; unknown IDs are not found.
	_, _, err = m.Rotate(ctx, old.ID, time.Hour)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)
	_, _, err = m.Rotate(ctx, "nope", time.Hour)
	require.ErrorIs(t, err, apikey.ErrNotFound)
	_, _, err = m.Rotate(ctx, next.ID, -time.Second)
	require.ErrorIs(t, err, apikey.ErrInvalidInput)

	// Zero grace ends the old key at once; a grace longer than the key's own
	// expiry does not extend it.
	p2, k2 := mustCreate(t, m, apikey.NewKey{})
	_, _, err = m.Rotate(ctx, k2.ID, 0)
	require.NoError(t, err)
	_, err = m.Verify(ctx, p2)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)

	_, k3 := mustCreate(t, m, apikey.NewKey{ExpiresAt: clock.Now().Add(time.Minute)})
	_, k3next, err := m.Rotate(ctx, k3.ID, time.Hour)
	require.NoError(t, err)
	k3after, err := m.Get(ctx, k3.ID)
	require.NoError(t, err)
	assert.Equal(t, k3.ExpiresAt, k3after.ExpiresAt)
	assert.Equal(t, k3.ExpiresAt, k3next.ExpiresAt, "the new key keeps the old expiry")
}

// Rotation moves a key off a prefix the Manager only accepts, and keeps a
// prefix it does not know: a Manager managing another service's keys (as
// apikey serve does) must hand out keys that service accepts.
func TestRotatePrefix(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	service := newManager(t, store, apikey.WithPrefix("lbk"))
	legacy := newManager(t, store, apikey.WithPrefix("sk_old"))
	m := newManager(t, store, apikey.WithPrefix("sk_live"), apikey.WithAcceptedPrefixes("sk_old"))
	for _, c := range []struct {
		name   string
		issuer *apikey.Manager
		want   string
	}{
		{"own prefix kept", m, "sk_live_"},
		{"accepted prefix retired", legacy, "sk_live_"},
		{"foreign prefix kept", service, "lbk_"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, old := mustCreate(t, c.issuer, apikey.NewKey{})
			plain, next, err := m.Rotate(ctx, old.ID, 0)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(plain, c.want), "new key starts %q, want %q", next.Start, c.want)
			assert.True(t, strings.HasPrefix(next.Start, c.want), next.Start)
			_, err = apikey.ParseKey(plain)
			require.NoError(t, err)
		})
	}
	// The service that owns a foreign key accepts its successor.
	_, k := mustCreate(t, service, apikey.NewKey{})
	plain, _, err := m.Rotate(ctx, k.ID, 0)
	require.NoError(t, err)
	_, err = service.Verify(ctx, plain)
	require.NoError(t, err)
}

func TestHasherRotation(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	oldM := newManager(t, store)
	oldPlain, _ := mustCreate(t, oldM, apikey.NewKey{})

	pepper, err := apikey.HMACSHA256("2026-11", bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	m := newManager(t, store, apikey.WithHashers(pepper, apikey.SHA256()))
	newPlain, newKey := mustCreate(t, m, apikey.NewKey{})
	assert.Equal(t, "hmac-sha256:2026-11", newKey.Hash)

	_, err = m.Verify(ctx, oldPlain)
	require.NoError(t, err, "keys made under the older hasher keep working")
	_, err = m.Verify(ctx, newPlain)
	require.NoError(t, err)

	onlyPepper := newManager(t, store, apikey.WithHashers(pepper))
	_, err = onlyPepper.Verify(ctx, oldPlain)
	require.ErrorIs(t, err, apikey.ErrUnknownKey, "dropping a hasher retires its keys")
	_, err = oldM.Verify(ctx, newPlain)
	require.ErrorIs(t, err, apikey.ErrUnknownKey, "a peppered key cannot be checked without the pepper")
}

func TestNewPanicsOnMisconfiguration(t *testing.T) {
	assert.Panics(t, func() { apikey.New(nil) })
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("bad-prefix")) })
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithHashers(apikey.SHA256(), apikey.SHA256())) })
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithHashers(nil)) })
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithClock(nil)) })
}

func TestDisableEnableRevokeUnknownID(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, err := m.Disable(ctx, "missing")
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = m.Enable(ctx, "missing")
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	assert.ErrorIs(t, m.Revoke(ctx, "missing"), apikey.ErrNotFound)
	_, err = m.Get(ctx, "missing")
	assert.ErrorIs(t, err, apikey.ErrNotFound)
}

func TestDisableTwiceKeepsUpdatedAt(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	_, k := mustCreate(t, m, apikey.NewKey{})
	clock.Advance(time.Minute)
	d1, err := m.Disable(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, d1.Enabled)
	assert.Equal(t, clock.Now(), d1.UpdatedAt)
	clock.Advance(time.Minute)
	d2, err := m.Disable(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, d1.UpdatedAt, d2.UpdatedAt, "no change, no new UpdatedAt")
}

func TestList(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	var alice []string
	for i := range 12 {
		owner := "bob"
		if i%3 != 0 {
			owner = "alice"
		}
		_, k := mustCreate(t, m, apikey.NewKey{Owner: owner})
		if owner == "alice" {
			alice = append(alice, k.ID)
		}
	}
	var got []string
	opts := apikey.ListOptions{Owner: "alice", Limit: 3}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := m.List(ctx, opts)
		require.NoError(t, err)
		for _, k := range page.Keys {
			assert.Equal(t, "alice", k.Owner)
			got = append(got, k.ID)
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	assert.Equal(t, alice, got, "every key once, in creation order")

	// Newest first, page by page.
	got = nil
	opts = apikey.ListOptions{Owner: "alice", Limit: 3, Descending: true}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := m.List(ctx, opts)
		require.NoError(t, err)
		got = append(got, idsOf(page.Keys)...)
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	slices.Reverse(alice)
	assert.Equal(t, alice, got, "every key once, newest first")

	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, page.Keys, 12)
	assert.Empty(t, page.Next)
	_, err = m.List(ctx, apikey.ListOptions{Limit: -1})
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)

	// Keys from List are copies: changing them changes nothing stored.
	page.Keys[0].Scopes = append(page.Keys[0].Scopes, "admin")
	again, err := m.Get(ctx, page.Keys[0].ID)
	require.NoError(t, err)
	assert.NotContains(t, again.Scopes, "admin")
}

// ascendingOnly is a Store written before ListOptions.Descending: it
// lists in ascending order whatever it is asked.
type ascendingOnly struct{ *apikey.MemoryStore }

func (s ascendingOnly) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	opts.Descending = false
	return s.MemoryStore.List(ctx, opts)
}

// A page out of the order asked is an error, never a page whose cursor
// would skip keys or loop.
func TestListRefusesAPageOutOfOrder(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, ascendingOnly{apikey.NewMemoryStore()})
	for range 3 {
		mustCreate(t, m, apikey.NewKey{})
	}
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Keys, 3)
	_, err = m.List(ctx, apikey.ListOptions{Descending: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "out of order")
	_, err = m.List(ctx, apikey.ListOptions{Descending: true, After: page.Keys[1].ID})
	assert.ErrorContains(t, err, "out of order", "keys above the cursor")
	_, err = m.List(ctx, apikey.ListOptions{Descending: true, Limit: 1, After: page.Keys[0].ID})
	assert.ErrorContains(t, err, "out of order", "a single key on the wrong side of the cursor")
}

func TestLastUsedIsBatched(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithClock(clock.Now), apikey.WithLastUsedInterval(time.Hour))
	var plains []string
	var ids []string
	for range 5 {
		p, k := mustCreate(t, m, apikey.NewKey{})
		plains = append(plains, p)
		ids = append(ids, k.ID)
	}
	firstUse := clock.Now()
	for i := range 1000 {
		if i == 500 {
			clock.Advance(time.Second)
		}
		_, err := m.Verify(ctx, plains[i%len(plains)])
		require.NoError(t, err)
	}
	assert.Zero(t, store.LastUsedCalls.Load(), "no write on the request path")
	require.NoError(t, m.Flush(ctx))
	assert.Equal(t, int64(1), store.LastUsedCalls.Load(), "one batch")
	assert.Equal(t, int64(5), store.LastUsedKeys.Load(), "one entry per key")
	for _, id := range ids {
		k, err := m.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, firstUse, k.LastUsedAt, "the first use in the window is recorded")
	}
	require.NoError(t, m.Flush(ctx))
	assert.Equal(t, int64(1), store.LastUsedCalls.Load(), "nothing pending, nothing written")

	// The next window's use moves LastUsedAt forward.
	clock.Advance(time.Minute)
	_, err := m.Verify(ctx, plains[0])
	require.NoError(t, err)
	require.NoError(t, m.Flush(ctx))
	k, err := m.Get(ctx, ids[0])
	require.NoError(t, err)
	assert.Equal(t, clock.Now(), k.LastUsedAt)
	assert.Equal(t, int64(2), store.LastUsedCalls.Load())
}

func TestLastUsedRetriedAfterFailure(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithLastUsedInterval(time.Hour))
	plain, k := mustCreate(t, m, apikey.NewKey{})
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)

	store.FailWith(errors.New("db down"))
	err = m.Flush(ctx)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	store.Heal()
	require.NoError(t, m.Close(), "Close writes what the failed flush kept")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, got.LastUsedAt.IsZero())
	assert.Equal(t, int64(1), store.LastUsedKeys.Load())
}

func TestLastUsedBackgroundFlush(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithLastUsedInterval(10*time.Millisecond))
	plain, k := mustCreate(t, m, apikey.NewKey{})
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := m.Get(ctx, k.ID)
		return err == nil && !got.LastUsedAt.IsZero()
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close twice is fine")
}

func TestLastUsedOff(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithLastUsedInterval(0))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	assert.Zero(t, store.LastUsedCalls.Load())
}

func TestConcurrentCreateVerifyDisable(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Millisecond))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				plain, k, err := m.Create(ctx, apikey.NewKey{Owner: fmt.Sprint("o", g)})
				if !assert.NoError(t, err) {
					return
				}
				_, err = m.Verify(ctx, plain)
				assert.NoError(t, err)
				if i%2 == 0 {
					_, err = m.Disable(ctx, k.ID)
					assert.NoError(t, err)
					_, err = m.Verify(ctx, plain)
					assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
				}
				if i%5 == 0 {
					_, _, err = m.Rotate(ctx, k.ID, time.Minute)
					assert.NoError(t, err)
				}
				_, err = m.List(ctx, apikey.ListOptions{Owner: fmt.Sprint("o", g), Limit: 10})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, m.Close())
}

func TestAcceptedPrefixes(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	old := newManager(t, store, apikey.WithPrefix("old"))
	oldPlain, _ := mustCreate(t, old, apikey.NewKey{})

	m := newManager(t, store, apikey.WithPrefix("new"))
	_, err := m.Verify(ctx, oldPlain)
	require.ErrorIs(t, err, apikey.ErrMalformedKey, "other prefixes are refused by default")

	m = newManager(t, store, apikey.WithPrefix("new"), apikey.WithAcceptedPrefixes("old"))
	_, err = m.Verify(ctx, oldPlain)
	require.NoError(t, err)
	newPlain, _ := mustCreate(t, m, apikey.NewKey{})
	assert.True(t, strings.HasPrefix(newPlain, "new_"), "new keys use the new prefix")

	// The prefix is part of what is hashed: swapping it breaks the key.
	swapped := "new_" + strings.TrimPrefix(oldPlain, "old_")
	_, err = m.Verify(ctx, swapped)
	require.Error(t, err)
	assert.Panics(t, func() { apikey.New(store, apikey.WithAcceptedPrefixes("bad-")) })
}

// Review finding 2: a rotation must not give a key that was disabled
// meanwhile an enabled successor.
func TestRotateRacingDisable(t *testing.T) {
	ctx := context.Background()
	store := &disableDuringGet{MemoryStore: apikey.NewMemoryStore()}
	m := newManager(t, store)
	_, k := mustCreate(t, m, apikey.NewKey{})
	store.disable = func() {
		_, err := m.Disable(ctx, k.ID)
		require.NoError(t, err)
	}
	_, _, err := m.Rotate(ctx, k.ID, time.Hour)
	require.ErrorIs(t, err, apikey.ErrConflict)
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Keys, 1, "the successor was taken back")
	assert.False(t, page.Keys[0].Enabled)
	assert.Empty(t, page.Keys[0].RotatedTo)
}

// disableDuringGet runs disable right after the first Get, as if an admin
// disabled the key while Rotate was copying it.
type disableDuringGet struct {
	*apikey.MemoryStore
	disable func()
}

func (s *disableDuringGet) Get(ctx context.Context, id string) (apikey.Key, error) {
	k, err := s.MemoryStore.Get(ctx, id)
	if f := s.disable; f != nil {
		s.disable = nil
		f()
	}
	return k, err
}

// barrierGet holds every Get until n of them have read the key, so n
// rotations all copy the same old record before any of them retires it.
type barrierGet struct {
	*apikey.MemoryStore
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (s *barrierGet) Get(ctx context.Context, id string) (apikey.Key, error) {
	k, err := s.MemoryStore.Get(ctx, id)
	s.mu.Lock()
	if s.arrived++; s.arrived == s.n {
		close(s.all)
	}
	s.mu.Unlock()
	select {
	case <-s.all:
	case <-time.After(5 * time.Second):
	}
	return k, err
}

func TestRotateOnce(t *testing.T) {
	ctx := context.Background()
	store := &barrierGet{MemoryStore: apikey.NewMemoryStore(), n: 8, all: make(chan struct{})}
	m := newManager(t, store)
	_, k := mustCreate(t, m, apikey.NewKey{})
	var wg sync.WaitGroup
	var ok, conflict atomic.Int64
	for range 8 {
		wg.Go(func() {
			_, _, err := m.Rotate(ctx, k.ID, time.Hour)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, apikey.ErrConflict):
				conflict.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), ok.Load(), "one successor, however many rotate at once")
	assert.Equal(t, int64(7), conflict.Load())
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, page.Keys, 2, "the losers' successors were taken back")
	old, err := store.MemoryStore.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, page.Keys[1].ID, old.RotatedTo)
}

// Review finding 3: rotating a usage-limited key must not double its uses.
func TestRotateUsageLimitedKey(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	oldPlain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 2})
	_, err := m.Verify(ctx, oldPlain)
	require.NoError(t, err)
	_, _, err = m.Rotate(ctx, k.ID, time.Hour)
	require.ErrorIs(t, err, apikey.ErrInvalidInput, "no grace for usage-limited keys")
	newPlain, next, err := m.Rotate(ctx, k.ID, 0)
	require.NoError(t, err)
	require.NotNil(t, next.RemainingUses)
	assert.Equal(t, int64(1), *next.RemainingUses, "the uses left move to the new key")
	_, err = m.Verify(ctx, oldPlain)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)
	_, err = m.Verify(ctx, newPlain)
	require.NoError(t, err)
	_, err = m.Verify(ctx, newPlain)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "two uses in all, across both keys")
}

// Review finding 5: a sub-microsecond expiry must not make a key that is
// born expired, nor a rotation store nanoseconds some stores drop.
func TestSubMicrosecondTimes(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	_, _, err := m.Create(ctx, apikey.NewKey{Owner: "a", ExpiresAt: clock.Now().Add(500 * time.Nanosecond)})
	require.ErrorIs(t, err, apikey.ErrInvalidInput, "truncated to the microsecond, it is not in the future")
	_, k := mustCreate(t, m, apikey.NewKey{})
	_, _, err = m.Rotate(ctx, k.ID, 1500*time.Nanosecond)
	require.NoError(t, err)
	old, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(time.Microsecond), old.ExpiresAt)
}

// A store that embeds MemoryStore to change FindByDigest is called through
// its own method: the Manager's in-place reads of the memory store's
// records must not bypass it.
func TestEmbeddedMemoryStoreIsCalled(t *testing.T) {
	store := newSpyStore()
	m := newManager(t, store)
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	_, err := m.Verify(context.Background(), plain)
	require.NoError(t, err)
	assert.Equal(t, int64(1), store.Finds.Load())
	store.FailWith(errors.New("down"))
	_, err = m.Verify(context.Background(), plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
}

// flakyLastUsed fails RecordLastUsed while failing is set, and nothing
// else.
type flakyLastUsed struct {
	*apikey.MemoryStore
	failing atomic.Bool
	written atomic.Int64
}

func (s *flakyLastUsed) RecordLastUsed(ctx context.Context, used map[string]time.Time) error {
	if s.failing.Load() {
		return errors.New("timeout")
	}
	s.written.Add(int64(len(used)))
	return s.MemoryStore.RecordLastUsed(ctx, used)
}

// A failed flush hands its batch back while requests keep recording uses:
// under -race, this catches the flush reading the batch after that, and
// checks that no use is lost through the failures.
func TestFailedFlushRacingRecord(t *testing.T) {
	ctx := context.Background()
	store := &flakyLastUsed{MemoryStore: apikey.NewMemoryStore()}
	m := newManager(t, store, apikey.WithLastUsedInterval(time.Hour))
	var plains []string
	for range 20 {
		p, _ := mustCreate(t, m, apikey.NewKey{})
		plains = append(plains, p)
	}
	// A use of each key before the failures start, so every Flush below has
	// a batch to fail on, however the goroutines are scheduled.
	for _, p := range plains {
		_, err := m.Verify(ctx, p)
		require.NoError(t, err)
	}
	store.failing.Store(true)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				_, err := m.Verify(ctx, plains[(g+i)%len(plains)])
				assert.NoError(t, err)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			assert.Error(t, m.Flush(ctx))
		}
	})
	wg.Wait()
	store.failing.Store(false)
	require.NoError(t, m.Flush(ctx))
	assert.Equal(t, int64(20), store.written.Load(), "every key's use was kept through the failures")
}

// Rotate applies changes to the new key in the write that stores it, and
// refuses invalid or conditional ones before anything is stored.
func TestRotateWithChanges(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, k := mustCreate(t, m, apikey.NewKey{MaxUses: 5})
	for _, bad := range []apikey.KeyChange{apikey.SetCreatedBy(strings.Repeat("x", 65)), apikey.EnableIfDisabledBy("k"), {}} {
		_, _, err := m.Rotate(ctx, k.ID, 0, bad)
		require.ErrorIs(t, err, apikey.ErrInvalidInput)
	}
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	require.Len(t, page.Keys, 1, "a refused rotation stores nothing")

	plain, next, err := m.Rotate(ctx, k.ID, 0, apikey.SetCreatedBy("key-of-the-caller"), apikey.SetRemainingUses(1000))
	require.NoError(t, err)
	rememberKeys(plain)
	assert.Equal(t, "key-of-the-caller", next.CreatedBy)
	assert.Equal(t, int64(5), *next.RemainingUses, "changes cannot set the uses, which move from the old key")
	stored, err := m.Get(ctx, next.ID)
	require.NoError(t, err)
	assert.Equal(t, "key-of-the-caller", stored.CreatedBy)
}
