package apikey_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, cache.New(apikey.NewMemoryStore()), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{Name: "ci", Scopes: []string{"a"}, MaxUses: 3})

	clock.Advance(time.Minute)
	got, err := m.Update(ctx, k.ID,
		apikey.SetName("deploy"),
		apikey.SetDescription("multi\nline"),
		apikey.SetScopes("b", "c", "b"),
		apikey.SetMetadata(map[string]string{"team": "ops"}),
		apikey.SetExpiry(clock.Now().Add(time.Hour)),
		apikey.SetRateLimit(apikey.RateLimit{Limit: 5, Window: time.Second}),
		apikey.SetAllowedIPs(netip.MustParsePrefix("192.0.2.9/24")),
		apikey.NoUsageLimit(),
	)
	require.NoError(t, err)
	assert.Equal(t, "deploy", got.Name)
	assert.Equal(t, "multi\nline", got.Description)
	assert.Equal(t, []string{"b", "c"}, got.Scopes)
	assert.Equal(t, map[string]string{"team": "ops"}, got.Metadata)
	assert.Equal(t, clock.Now().Add(time.Hour), got.ExpiresAt)
	assert.Equal(t, apikey.RateLimit{Limit: 5, Window: time.Second}, got.RateLimit)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, got.AllowedIPs)
	assert.Nil(t, got.RemainingUses)
	assert.Equal(t, clock.Now(), got.UpdatedAt)
	assert.Equal(t, k.CreatedAt, got.CreatedAt)
	assert.Equal(t, k.Owner, got.Owner)

	// The change is seen by verification at once, through the cache.
	p, err := m.VerifyFrom(ctx, plain, netip.MustParseAddr("192.0.2.200"))
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, p.Scopes())
	_, err = m.Update(ctx, k.ID, apikey.SetEnabled(false))
	require.NoError(t, err)
	_, err = m.VerifyFrom(ctx, plain, netip.MustParseAddr("192.0.2.200"))
	require.ErrorIs(t, err, apikey.ErrKeyDisabled)
	_, err = m.Update(ctx, k.ID, apikey.SetEnabled(true), apikey.SetExpiry(time.Time{}), apikey.SetRemainingUses(0))
	require.NoError(t, err)
	_, err = m.VerifyFrom(ctx, plain, netip.MustParseAddr("192.0.2.200"))
	require.ErrorIs(t, err, apikey.ErrUsageExhausted)

	// Bad changes are refused before the store is touched.
	before, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	for name, c := range map[string]apikey.KeyChange{
		"scope with space":  apikey.SetScopes("a b"),
		"long name":         apikey.SetName(strings.Repeat("n", 300)),
		"control character": apikey.SetDescription("\x00"),
		"half rate limit":   apikey.SetRateLimit(apikey.RateLimit{Limit: 3}),
		"invalid prefix":    apikey.SetAllowedIPs(netip.Prefix{}),
		"negative uses":     apikey.SetRemainingUses(-1),
		"empty metadata":    apikey.SetMetadata(map[string]string{"": "x"}),
		"zero KeyChange":    {},
	} {
		_, err := m.Update(ctx, k.ID, apikey.SetName("should not stick"), c)
		assert.ErrorIs(t, err, apikey.ErrInvalidInput, name)
	}
	after, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	_, err = m.Update(ctx, "missing", apikey.SetName("x"))
	assert.ErrorIs(t, err, apikey.ErrNotFound)
}

func TestKeyState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	zero, two := int64(0), int64(2)
	for want, k := range map[apikey.KeyState]apikey.Key{
		apikey.StateEnabled:   {Enabled: true, RemainingUses: &two},
		apikey.StateDisabled:  {Enabled: false, ExpiresAt: now.Add(-time.Hour)},
		apikey.StateExpired:   {Enabled: true, ExpiresAt: now},
		apikey.StateExhausted: {Enabled: true, RemainingUses: &zero},
	} {
		assert.Equal(t, want, k.State(now))
	}
}

// TestDisabledBy: DisableBy records who disabled a key, and the first
// disable stands; an operator's disable (Manager.Disable, SetEnabled)
// clears the disabler, even of a key a holder disabled first, and so does
// enabling. CreatedBy is kept from NewKey and set with SetCreatedBy.
func TestDisabledBy(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, k := mustCreate(t, m, apikey.NewKey{Name: "ci", CreatedBy: "minter"})
	assert.Equal(t, "minter", k.CreatedBy)

	got, err := m.Update(ctx, k.ID, apikey.DisableBy("alice-key"))
	require.NoError(t, err)
	assert.False(t, got.Enabled)
	assert.Equal(t, "alice-key", got.DisabledBy)
	got, err = m.Update(ctx, k.ID, apikey.DisableBy("bob-key"))
	require.NoError(t, err)
	assert.Equal(t, "alice-key", got.DisabledBy, "the first disable stands")

	got, err = m.Disable(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, got.Enabled)
	assert.Empty(t, got.DisabledBy, "an operator's disable takes over")
	got, err = m.Update(ctx, k.ID, apikey.DisableBy("alice-key"))
	require.NoError(t, err)
	assert.Empty(t, got.DisabledBy, "and is not taken over by a holder's")

	_, err = m.Update(ctx, k.ID, apikey.SetEnabled(true), apikey.DisableBy("carol-key"))
	require.NoError(t, err)
	got, err = m.Update(ctx, k.ID, apikey.SetEnabled(false))
	require.NoError(t, err)
	assert.Empty(t, got.DisabledBy, "SetEnabled(false) is an operator's disable")
	_, err = m.Update(ctx, k.ID, apikey.DisableBy("alice-key"), apikey.SetEnabled(true))
	require.NoError(t, err)
	got, err = m.Enable(ctx, k.ID)
	require.NoError(t, err)
	assert.True(t, got.Enabled)
	assert.Empty(t, got.DisabledBy, "an enabled key has no disabler")

	got, err = m.Update(ctx, k.ID, apikey.SetCreatedBy("rotator"))
	require.NoError(t, err)
	assert.Equal(t, "rotator", got.CreatedBy)
	for name, c := range map[string]apikey.KeyChange{
		"long disabler": apikey.DisableBy(strings.Repeat("k", 65)),
		"long creator":  apikey.SetCreatedBy(strings.Repeat("k", 65)),
		"control":       apikey.SetCreatedBy("a\x00b"),
	} {
		_, err := m.Update(ctx, k.ID, c)
		assert.ErrorIs(t, err, apikey.ErrInvalidInput, name)
	}
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "o", CreatedBy: strings.Repeat("k", 65)})
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
}

// TestEnableIfDisabledBy: a key is enabled again only while its disabler
// is the one named; a disable by anyone else, made after the caller looked,
// fails the whole Update and stands.
func TestEnableIfDisabledBy(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, k := mustCreate(t, m, apikey.NewKey{Name: "ci"})

	got, err := m.Update(ctx, k.ID, apikey.EnableIfDisabledBy("alice-key"), apikey.SetName("enabled already"))
	require.NoError(t, err)
	assert.True(t, got.Enabled)
	_, err = m.Update(ctx, k.ID, apikey.DisableBy("alice-key"))
	require.NoError(t, err)
	got, err = m.Update(ctx, k.ID, apikey.EnableIfDisabledBy("alice-key"))
	require.NoError(t, err)
	assert.True(t, got.Enabled)
	assert.Empty(t, got.DisabledBy)

	_, err = m.Disable(ctx, k.ID) // an operator's
	require.NoError(t, err)
	_, err = m.Update(ctx, k.ID, apikey.SetName("must not stick"), apikey.EnableIfDisabledBy("alice-key"))
	require.ErrorIs(t, err, apikey.ErrConflict)
	got, err = m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, got.Enabled)
	assert.Equal(t, "enabled already", got.Name, "nothing of a refused Update is stored")

	_, err = m.Update(ctx, k.ID, apikey.SetEnabled(true), apikey.DisableBy("bob-key"))
	require.NoError(t, err)
	_, err = m.Update(ctx, k.ID, apikey.EnableIfDisabledBy("alice-key"))
	require.ErrorIs(t, err, apikey.ErrConflict, "disabled by another key's holder")
	_, err = m.Update(ctx, k.ID, apikey.EnableIfDisabledBy(""))
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
}

// LowerRemainingUses never raises the stored count: the check runs when
// the change is stored.
func TestLowerRemainingUses(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, k := mustCreate(t, m, apikey.NewKey{MaxUses: 5})
	got, err := m.Update(ctx, k.ID, apikey.LowerRemainingUses(3))
	require.NoError(t, err)
	assert.Equal(t, int64(3), *got.RemainingUses)
	_, err = m.Update(ctx, k.ID, apikey.LowerRemainingUses(4), apikey.SetName("x"))
	require.ErrorIs(t, err, apikey.ErrConflict)
	got, err = m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(3), *got.RemainingUses, "nothing changed")
	assert.Empty(t, got.Name)
	_, err = m.Update(ctx, k.ID, apikey.LowerRemainingUses(-1))
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
	_, unlimited := mustCreate(t, m, apikey.NewKey{})
	got, err = m.Update(ctx, unlimited.ID, apikey.LowerRemainingUses(7))
	require.NoError(t, err)
	assert.Equal(t, int64(7), *got.RemainingUses, "a key without a limit gets one")
}

// IfUnchangedSince stores the changes only on the key as the caller read
// it: a change stored since fails the whole Update with ErrConflict; uses
// spent since are no change.
func TestIfUnchangedSince(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 5})
	clock.Advance(time.Second)
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	got, err := m.Update(ctx, k.ID, apikey.IfUnchangedSince(k.UpdatedAt), apikey.SetName("a"))
	require.NoError(t, err, "a use spent is no change")
	assert.Equal(t, "a", got.Name)
	clock.Advance(time.Second)
	_, err = m.Update(ctx, k.ID, apikey.IfUnchangedSince(k.UpdatedAt), apikey.SetName("b"))
	require.ErrorIs(t, err, apikey.ErrConflict, "renamed since k was read")
	now, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "a", now.Name, "nothing changed")
}
