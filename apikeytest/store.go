package apikeytest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// TestStore runs the Store conformance suite against stores made by
// newStore, one fresh, empty store per subtest; newStore should register
// its own cleanup with t.Cleanup. The keys the suite stores look like the
// ones the Manager makes: times are UTC with microsecond precision, IDs
// are at most 64 bytes and digests 32 bytes. A store that does not
// implement apikey.UsageStore skips the subtests about uses.
func TestStore(t *testing.T, newStore func(t *testing.T) apikey.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s apikey.Store)
	}{
		{"CreateRoundTrip", testCreateRoundTrip},
		{"CreateZeroAndEmpty", testCreateZeroAndEmpty},
		{"CreateManagerLimits", testCreateManagerLimits},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateDuplicateDigest", testCreateDuplicateDigest},
		{"CreateCopiesInput", testCreateCopiesInput},
		{"NotFound", testNotFound},
		{"IDsAreExactAndSortByBytes", testIDsExact},
		{"ListAfterAndLimit", testListAfterAndLimit},
		{"ListOwner", testListOwner},
		{"ListPaging", testListPaging},
		{"ListEmpty", testListEmpty},
		{"ListDescending", testListDescending},
		{"CreateMany", testCreateMany},
		{"UpdateStoresFields", testUpdateStoresFields},
		{"UpdateIgnoresOtherFields", testUpdateIgnoresOtherFields},
		{"UpdateFnError", testUpdateFnError},
		{"UpdateNotFound", testUpdateNotFound},
		{"UpdateCopiesFnValues", testUpdateCopiesFnValues},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"Delete", testDelete},
		{"RecordLastUsed", testRecordLastUsed},
		{"RecordLastUsedEmpty", testRecordLastUsedEmpty},
		{"Concurrent", testConcurrent},
		{"SpendUse", testSpendUse},
		{"SpendUseConcurrent", testSpendUseConcurrent},
		{"SpendUseOnlyFromUsableKeys", testSpendUseOnlyFromUsableKeys},
		{"Rehash", testRehash},
		{"SpendRefills", testSpendRefills},
		{"SpendRollOverStopsAtMax", testSpendRollOverStops},
		{"SpendByTheStoredRefill", testSpendByStoredRefill},
		{"SpendConcurrentAcrossARefill", testSpendConcurrentRefill},
		{"OwnerPolicies", testOwnerPolicies},
		{"SpendPooledBothOrNeither", testSpendPooled},
		{"SpendPooledConcurrent", testSpendPooledConcurrent},
		{"SpendPooledWithoutSharedUses", testSpendPooledWithoutSharedUses},
		{"SpendPooledRollOverStopsAtMax", testSpendPooledRollOverStops},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

var (
	seq = atomic.Int64{}
	// base has a sub-second part so a store that drops microseconds fails.
	base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)
)

// at returns a time n milliseconds and n microseconds after base.
func at(n int) time.Time {
	return base.Add(time.Duration(n) * (time.Millisecond + time.Microsecond))
}

// newID returns an ID unique in this process; IDs sort in creation order.
func newID() string {
	return fmt.Sprintf("key-%08d", seq.Add(1))
}

func randomDigest() []byte {
	sum := sha256.Sum256([]byte(rand.Text()))
	return sum[:]
}

// newKey returns a key as the Manager would create it, owned by owner.
func newKey(owner string) apikey.Key {
	n := int(seq.Load() % 10000)
	return apikey.Key{
		ID:          newID(),
		Owner:       owner,
		Name:        "ci",
		Description: "used by the nightly build",
		Scopes:      []string{"bots:read", "bots:write"},
		Metadata:    map[string]string{"team": "platform"},
		Start:       "ak_4qGZ",
		Hash:        "sha256",
		Digest:      randomDigest(),
		Enabled:     true,
		CreatedAt:   at(n),
		UpdatedAt:   at(n),
	}
}

func mustCreate(t *testing.T, s apikey.Store, keys ...apikey.Key) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, s.Create(context.Background(), k), "Create %s", k.ID)
	}
}

func mustGet(t *testing.T, s apikey.Store, id string) apikey.Key {
	t.Helper()
	k, err := s.Get(context.Background(), id)
	require.NoError(t, err, "Get %s", id)
	return k
}

// requireSameKey fails unless got holds exactly want's data. Nil and empty
// Scopes or Metadata count as the same; times must be equal instants in UTC.
func requireSameKey(t *testing.T, want, got apikey.Key) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.Owner, got.Owner, "Owner of %s", want.ID)
	assert.Equal(t, want.Name, got.Name, "Name of %s", want.ID)
	assert.Equal(t, want.Description, got.Description, "Description of %s", want.ID)
	if len(want.Scopes) == 0 {
		assert.Empty(t, got.Scopes, "Scopes of %s", want.ID)
	} else {
		assert.Equal(t, want.Scopes, got.Scopes, "Scopes of %s", want.ID)
	}
	if len(want.Metadata) == 0 {
		assert.Empty(t, got.Metadata, "Metadata of %s", want.ID)
	} else {
		assert.Equal(t, want.Metadata, got.Metadata, "Metadata of %s", want.ID)
	}
	assert.Equal(t, want.Start, got.Start, "Start of %s", want.ID)
	assert.Equal(t, want.Hash, got.Hash, "Hash of %s", want.ID)
	assert.Equal(t, want.Digest, got.Digest, "Digest of %s", want.ID)
	assert.Equal(t, want.Enabled, got.Enabled, "Enabled of %s", want.ID)
	requireSameTime(t, "CreatedAt of "+want.ID, want.CreatedAt, got.CreatedAt)
	requireSameTime(t, "UpdatedAt of "+want.ID, want.UpdatedAt, got.UpdatedAt)
	requireSameTime(t, "ExpiresAt of "+want.ID, want.ExpiresAt, got.ExpiresAt)
	requireSameTime(t, "LastUsedAt of "+want.ID, want.LastUsedAt, got.LastUsedAt)
	assert.Equal(t, want.RateLimit, got.RateLimit, "RateLimit of %s", want.ID)
	if len(want.RateLimits) == 0 {
		assert.Empty(t, got.RateLimits, "RateLimits of %s", want.ID)
	} else {
		assert.Equal(t, want.RateLimits, got.RateLimits, "RateLimits of %s", want.ID)
	}
	if len(want.AllowedIPs) == 0 {
		assert.Empty(t, got.AllowedIPs, "AllowedIPs of %s", want.ID)
	} else {
		assert.Equal(t, want.AllowedIPs, got.AllowedIPs, "AllowedIPs of %s", want.ID)
	}
	if want.RemainingUses == nil {
		assert.Nil(t, got.RemainingUses, "RemainingUses of %s", want.ID)
	} else if assert.NotNil(t, got.RemainingUses, "RemainingUses of %s", want.ID) {
		assert.Equal(t, *want.RemainingUses, *got.RemainingUses, "RemainingUses of %s", want.ID)
	}
	assert.Equal(t, want.RotatedTo, got.RotatedTo, "RotatedTo of %s", want.ID)
	assert.Equal(t, want.Refill, got.Refill, "Refill of %s", want.ID)
	assert.True(t, want.RefilledAt.Equal(got.RefilledAt), "RefilledAt of %s: %v, want %v", want.ID, got.RefilledAt, want.RefilledAt)
	assert.Equal(t, want.UsesSpent, got.UsesSpent, "UsesSpent of %s", want.ID)
	assert.Equal(t, want.CreatedBy, got.CreatedBy, "CreatedBy of %s", want.ID)
	assert.Equal(t, want.DisabledBy, got.DisabledBy, "DisabledBy of %s", want.ID)
	if t.Failed() {
		t.FailNow()
	}
}

func requireSameTime(t *testing.T, what string, want, got time.Time) {
	t.Helper()
	if want.IsZero() {
		assert.True(t, got.IsZero(), "%s: want the zero time, got %v", what, got)
	} else {
		assert.True(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
	}
	assert.Same(t, time.UTC, got.Location(), "%s: location %v, want UTC", what, got.Location())
}

// requireFound fails unless Get and FindByDigest both return want.
func requireFound(t *testing.T, s apikey.Store, want apikey.Key) {
	t.Helper()
	got, err := s.Get(context.Background(), want.ID)
	require.NoError(t, err, "Get %s", want.ID)
	requireSameKey(t, want, got)
	got, err = s.FindByDigest(context.Background(), want.Digest)
	require.NoError(t, err, "FindByDigest of %s", want.ID)
	requireSameKey(t, want, got)
}

func listAll(t *testing.T, s apikey.Store, owner string) []apikey.Key {
	t.Helper()
	keys, err := s.List(context.Background(), apikey.ListOptions{Owner: owner, Limit: math.MaxInt32})
	require.NoError(t, err)
	return keys
}

func idsOf(keys []apikey.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func testCreateRoundTrip(t *testing.T, s apikey.Store) {
	k := apikey.Key{
		ID:          newID(),
		Owner:       "ålice 👩‍💻",
		Name:        "ci ☃",
		Description: "line one\nline two\twith \"quotes\", 'single', <html> & \\ back",
		Scopes:      []string{"z:write", "a:read", "m:admin", "ünï:cøde"},
		Metadata: map[string]string{
			"team":     "platform",
			"emoji":    "🔑",
			"empty":    "",
			"ключ":     "значение",
			"html":     "<a href=\"x\">&amp;</a>",
			"json":     `{"nested": [1, 2]}`,
			"":         "empty name",
			"newlines": "a\nb\tc",
		},
		Start:      "lbk_4qGZ",
		Hash:       "hmac-sha256:2025-01",
		Digest:     randomDigest(),
		Enabled:    false,
		CreatedAt:  at(1),
		UpdatedAt:  at(2),
		ExpiresAt:  time.Date(2099, 12, 31, 23, 59, 59, 999999000, time.UTC),
		LastUsedAt: at(3),
		RateLimit:  apikey.RateLimit{Limit: 120, Window: 90*time.Second + 250*time.Millisecond},
		RateLimits: []apikey.RateLimit{{Name: "burst", Limit: 10, Window: time.Second}, {Name: "daily \"quoted\" ü", Limit: 10000, Window: 24*time.Hour + time.Microsecond}},
		AllowedIPs: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"),
			netip.MustParsePrefix("2001:db8::/32"),
		},
		RemainingUses: uses(5),
		Refill:        &apikey.Refill{Amount: 1000, Interval: apikey.RefillMonthly, Day: 31, RollOver: true},
		RefilledAt:    at(4),
		UsesSpent:     77,
		RotatedTo:     "key-next",
		CreatedBy:     "static:admin",
		DisabledBy:    strings.Repeat("K", 64),
	}
	// Zero bytes at both ends catch digests kept as text or padded.
	k.Digest[0], k.Digest[31] = 0, 0
	mustCreate(t, s, k)
	requireFound(t, s, k)
	keys := listAll(t, s, "")
	require.Len(t, keys, 1)
	requireSameKey(t, k, keys[0])
}

func testCreateZeroAndEmpty(t *testing.T, s apikey.Store) {
	bare := newKey("bob")
	bare.Name, bare.Description = "", ""
	bare.Scopes, bare.Metadata = nil, nil
	empty := newKey("bob")
	empty.Scopes, empty.Metadata = []string{}, map[string]string{}
	mustCreate(t, s, bare, empty)
	requireFound(t, s, bare)
	requireFound(t, s, empty)
	got := mustGet(t, s, bare.ID)
	assert.True(t, got.ExpiresAt.IsZero(), "ExpiresAt must stay zero")
	assert.True(t, got.LastUsedAt.IsZero(), "LastUsedAt must stay zero")
}

// testCreateManagerLimits stores the largest fields the Manager accepts, so
// a store whose columns are too small fails here rather than in production.
func testCreateManagerLimits(t *testing.T, s apikey.Store) {
	k := newKey(strings.Repeat("ö", 128)) // 256 bytes
	k.Name = strings.Repeat("n", 255) + "!"
	k.Description = strings.Repeat("€<>&\n", 4096/7)
	k.Scopes = make([]string, 100)
	for i := range k.Scopes {
		k.Scopes[i] = fmt.Sprintf("%03d:", i) + strings.Repeat("s", 124)
	}
	k.Metadata = map[string]string{}
	for i := range 64 {
		k.Metadata[fmt.Sprintf("%03d", i)+strings.Repeat("k", 125)] = strings.Repeat("<\"&>", 256)
	}
	mustCreate(t, s, k)
	requireFound(t, s, k)
}

func testCreateDuplicateID(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newKey("alice")
	mustCreate(t, s, k)
	dup := newKey("mallory")
	dup.ID = k.ID
	err := s.Create(ctx, dup)
	require.ErrorIs(t, err, apikey.ErrDuplicate)
	requireFound(t, s, k)
	_, err = s.FindByDigest(ctx, dup.Digest)
	require.ErrorIs(t, err, apikey.ErrNotFound, "a refused key must not be findable by its digest")
}

func testCreateDuplicateDigest(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newKey("alice")
	mustCreate(t, s, k)
	dup := newKey("mallory")
	dup.Digest = k.Clone().Digest
	err := s.Create(ctx, dup)
	require.ErrorIs(t, err, apikey.ErrDuplicate)
	_, err = s.Get(ctx, dup.ID)
	require.ErrorIs(t, err, apikey.ErrNotFound, "a refused key must not be stored")
	requireFound(t, s, k)
}

// testCreateMany checks a BatchStore's CreateMany: every key stored as
// Create stores it, and all or none, with a duplicate of a stored key or
// within the batch anywhere in it. A store that is no BatchStore, or says
// errors.ErrUnsupported, skips it.
func testCreateMany(t *testing.T, s apikey.Store) {
	bs, ok := s.(apikey.BatchStore)
	if !ok {
		t.Skip("not an apikey.BatchStore")
	}
	ctx := context.Background()
	if err := bs.CreateMany(ctx, nil); errors.Is(err, errors.ErrUnsupported) {
		t.Skip("CreateMany is unsupported here")
	} else {
		require.NoError(t, err, "no keys")
	}
	var keys []apikey.Key
	for i := range 75 { // more than one INSERT's worth in an SQL store
		k := newKey([]string{"alice", "bob"}[i%2])
		if i == 7 {
			k.RemainingUses = new(int64)
			*k.RemainingUses = 5
			k.ExpiresAt = at(9)
		}
		keys = append(keys, k)
	}
	require.NoError(t, bs.CreateMany(ctx, keys))
	for _, k := range keys {
		requireFound(t, s, k)
	}
	require.Len(t, listAll(t, s, ""), len(keys))

	stored := keys[40]
	for name, dupAt := range map[string]int{"first": 0, "in the middle": 37, "last": 69} {
		for _, kind := range []string{"stored ID", "stored digest", "digest twice", "ID twice"} {
			batch := make([]apikey.Key, 70)
			for i := range batch {
				batch[i] = newKey("carol")
			}
			switch kind {
			case "stored ID":
				batch[dupAt].ID = stored.ID
			case "stored digest":
				batch[dupAt].Digest = stored.Clone().Digest
			case "digest twice":
				batch[dupAt].Digest = batch[(dupAt+1)%len(batch)].Clone().Digest
			case "ID twice":
				batch[dupAt].ID = batch[(dupAt+1)%len(batch)].ID
			}
			err := bs.CreateMany(ctx, batch)
			require.ErrorIs(t, err, apikey.ErrDuplicate, "%s, %s", kind, name)
			assert.Empty(t, listAll(t, s, "carol"), "%s, %s: all or none", kind, name)
		}
	}
	requireFound(t, s, stored)
	require.Len(t, listAll(t, s, ""), len(keys))
}

func testCreateCopiesInput(t *testing.T, s apikey.Store) {
	k := newKey("alice")
	want := k.Clone()
	mustCreate(t, s, k)
	k.Scopes[0] = "admin:everything"
	k.Metadata["team"] = "mallory"
	k.Metadata["added"] = "later"
	k.Digest[0] ^= 0xff
	requireFound(t, s, want)
}

func testNotFound(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	mustCreate(t, s, newKey("alice"))
	_, err := s.Get(ctx, "no-such-key")
	require.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = s.FindByDigest(ctx, randomDigest())
	require.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = s.FindByDigest(ctx, nil)
	require.ErrorIs(t, err, apikey.ErrNotFound)
	err = s.Delete(ctx, "no-such-key")
	require.ErrorIs(t, err, apikey.ErrNotFound)
}

// testIDsExact checks that IDs and owners compare as Go strings do: byte by
// byte, case and trailing spaces included. SQL collations often do not.
func testIDsExact(t *testing.T, s apikey.Store) {
	ids := []string{"k-a", "k-A", "K-a", "k-a ", "k_a", "k-b", "k-B", "k-0", "k-é", "k-e"}
	var want []apikey.Key
	for _, id := range ids {
		k := newKey("owner")
		k.ID = id
		want = append(want, k)
	}
	mrand.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
	mustCreate(t, s, want...)
	slices.SortFunc(want, func(a, b apikey.Key) int { return strings.Compare(a.ID, b.ID) })
	got := listAll(t, s, "")
	require.Equal(t, idsOf(want), idsOf(got), "List must sort IDs byte by byte")
	for i := range want {
		requireSameKey(t, want[i], got[i])
		requireFound(t, s, want[i])
	}
	page, err := s.List(context.Background(), apikey.ListOptions{After: "k-a", Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"k-a ", "k-b"}, idsOf(page))
	page, err = s.List(context.Background(), apikey.ListOptions{Limit: len(ids), Descending: true})
	require.NoError(t, err)
	slices.Reverse(want)
	require.Equal(t, idsOf(want), idsOf(page), "a descending List must sort IDs byte by byte too")
	page, err = s.List(context.Background(), apikey.ListOptions{After: "k-a ", Limit: 2, Descending: true})
	require.NoError(t, err)
	require.Equal(t, []string{"k-a", "k-B"}, idsOf(page))
}

func testListAfterAndLimit(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	var keys []apikey.Key
	for range 10 {
		keys = append(keys, newKey("alice"))
	}
	ids := idsOf(keys)
	shuffled := slices.Clone(keys)
	mrand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	mustCreate(t, s, shuffled...)

	all := listAll(t, s, "")
	require.Equal(t, ids, idsOf(all))
	for i := range keys {
		requireSameKey(t, keys[i], all[i])
	}
	cases := []struct {
		name string
		opts apikey.ListOptions
		want []string
	}{
		{"first page", apikey.ListOptions{Limit: 3}, ids[:3]},
		{"after is exclusive", apikey.ListOptions{After: ids[3], Limit: 4}, ids[4:8]},
		{"after between IDs", apikey.ListOptions{After: ids[3] + "~", Limit: 2}, ids[4:6]},
		{"limit one", apikey.ListOptions{After: ids[8], Limit: 1}, ids[9:]},
		{"limit beyond the end", apikey.ListOptions{After: ids[6], Limit: 100}, ids[7:]},
		{"after the last", apikey.ListOptions{After: ids[9], Limit: 5}, nil},
		{"after everything", apikey.ListOptions{After: "zzz", Limit: 5}, nil},
	}
	for _, c := range cases {
		got, err := s.List(ctx, c.opts)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, nilIfEmpty(idsOf(got)), c.name)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func testListOwner(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	owners := []string{"alice", "bob", "Alice", "alice ", "alice", "bob", "alice", "alicé", "alice"}
	var alice []string
	for _, o := range owners {
		k := newKey(o)
		mustCreate(t, s, k)
		if o == "alice" {
			alice = append(alice, k.ID)
		}
	}
	got := listAll(t, s, "alice")
	require.Equal(t, alice, idsOf(got), "only the exact owner's keys, in ID order")
	for _, k := range got {
		require.Equal(t, "alice", k.Owner)
	}
	// Limit counts the owner's keys only, however many others lie between.
	page, err := s.List(ctx, apikey.ListOptions{Owner: "alice", Limit: 2})
	require.NoError(t, err)
	require.Equal(t, alice[:2], idsOf(page))
	page, err = s.List(ctx, apikey.ListOptions{Owner: "alice", After: alice[1], Limit: 2})
	require.NoError(t, err)
	require.Equal(t, alice[2:4], idsOf(page))
	page, err = s.List(ctx, apikey.ListOptions{Owner: "nobody", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, page)
	require.Len(t, listAll(t, s, ""), len(owners))
}

func testListPaging(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		k := newKey([]string{"alice", "bob"}[i%2])
		mustCreate(t, s, k)
		want = append(want, k.ID)
	}
	var got []string
	var sizes []int
	after := ""
	for range 10 {
		page, err := s.List(ctx, apikey.ListOptions{After: after, Limit: 7})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 7)
		sizes = append(sizes, len(page))
		got = append(got, idsOf(page)...)
		after = page[len(page)-1].ID
	}
	require.Equal(t, want, got, "every key exactly once, in order")
	require.Equal(t, []int{7, 7, 7, 4}, sizes)
}

// testListDescending checks ListOptions.Descending: the greatest ID first,
// After exclusive and below it, by owner, and paging that sees every key
// once.
func testListDescending(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	var keys []apikey.Key
	var alice []string
	for i := range 12 {
		k := newKey([]string{"alice", "bob", "alice "}[i%3])
		keys = append(keys, k)
		if k.Owner == "alice" {
			alice = append(alice, k.ID)
		}
	}
	shuffled := slices.Clone(keys)
	mrand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	mustCreate(t, s, shuffled...)
	ids := idsOf(keys)
	slices.Reverse(ids)
	slices.Reverse(alice)

	cases := []struct {
		name string
		opts apikey.ListOptions
		want []string
	}{
		{"first page", apikey.ListOptions{Limit: 3}, ids[:3]},
		{"all", apikey.ListOptions{Limit: 100}, ids},
		{"after is exclusive", apikey.ListOptions{After: ids[3], Limit: 4}, ids[4:8]},
		{"after between IDs", apikey.ListOptions{After: ids[3] + "~", Limit: 2}, ids[3:5]},
		{"limit beyond the end", apikey.ListOptions{After: ids[8], Limit: 100}, ids[9:]},
		{"after the last", apikey.ListOptions{After: ids[11], Limit: 5}, nil},
		{"after nothing", apikey.ListOptions{After: "0", Limit: 5}, nil},
		{"after everything", apikey.ListOptions{After: "zzz", Limit: 2}, ids[:2]},
		{"an owner", apikey.ListOptions{Owner: "alice", Limit: 100}, alice},
		{"an owner, a page", apikey.ListOptions{Owner: "alice", Limit: 2}, alice[:2]},
		{"an owner, after", apikey.ListOptions{Owner: "alice", After: alice[1], Limit: 2}, alice[2:4]},
		{"no such owner", apikey.ListOptions{Owner: "nobody", Limit: 5}, nil},
	}
	for _, c := range cases {
		c.opts.Descending = true
		got, err := s.List(ctx, c.opts)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, nilIfEmpty(idsOf(got)), c.name)
	}
	var got []string
	after := ""
	for range 10 {
		page, err := s.List(ctx, apikey.ListOptions{After: after, Limit: 5, Descending: true})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		got = append(got, idsOf(page)...)
		after = page[len(page)-1].ID
	}
	require.Equal(t, ids, got, "every key exactly once, newest first")
}

func testListEmpty(t *testing.T, s apikey.Store) {
	keys, err := s.List(context.Background(), apikey.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, keys)
	keys, err = s.List(context.Background(), apikey.ListOptions{Owner: "alice", After: "a", Limit: 10})
	require.NoError(t, err)
	require.Empty(t, keys)
}

func testUpdateStoresFields(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newKey("alice")
	k.LastUsedAt = at(50)
	other := newKey("alice")
	mustCreate(t, s, k, other)
	before := mustGet(t, s, k.ID)

	want := k.Clone()
	want.Owner = "bob"
	want.Name = "renamed ✓"
	want.Description = "new\ndescription"
	want.Scopes = []string{"z:last", "a:first"}
	want.Metadata = map[string]string{"new": "välue", "blank": ""}
	want.Enabled = false
	want.ExpiresAt = at(100)
	want.UpdatedAt = at(99)
	want.RateLimit = apikey.RateLimit{Limit: 7, Window: time.Hour}
	want.RateLimits = []apikey.RateLimit{{Name: "daily", Limit: 70, Window: 24 * time.Hour}}
	want.AllowedIPs = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	want.RemainingUses = uses(0)
	want.Refill = &apikey.Refill{Amount: 9, Interval: apikey.RefillMonthly, Day: 3, RollOver: true}
	want.RefilledAt = at(98)
	want.RotatedTo = "key-successor"
	want.CreatedBy = "key-minter"
	want.DisabledBy = "key-disabler"
	calls := 0
	got, err := s.Update(ctx, k.ID, func(cur *apikey.Key) error {
		calls++
		requireSameKey(t, k, *cur)
		cur.Owner, cur.Name, cur.Description = want.Owner, want.Name, want.Description
		cur.Scopes = slices.Clone(want.Scopes)
		cur.Metadata = maps.Clone(want.Metadata)
		cur.Enabled, cur.ExpiresAt, cur.UpdatedAt = want.Enabled, want.ExpiresAt, want.UpdatedAt
		cur.RateLimit, cur.AllowedIPs, cur.RemainingUses = want.RateLimit, slices.Clone(want.AllowedIPs), uses(0)
		cur.RateLimits = slices.Clone(want.RateLimits)
		r := *want.Refill
		cur.Refill, cur.RefilledAt = &r, want.RefilledAt
		cur.RotatedTo = want.RotatedTo
		cur.CreatedBy, cur.DisabledBy = want.CreatedBy, want.DisabledBy
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, calls, 1)
	requireSameKey(t, want, got)
	requireFound(t, s, want)
	requireFound(t, s, other)
	require.Equal(t, []string{k.ID}, idsOf(listAll(t, s, "bob")), "List by owner must see the new owner")
	require.Equal(t, []string{other.ID}, idsOf(listAll(t, s, "alice")))
	// A key read before the update is a snapshot: the update must not
	// reach into it.
	requireSameKey(t, k, before)

	// Clearing fields stores them cleared.
	want.Scopes, want.Metadata, want.ExpiresAt, want.Enabled = nil, nil, time.Time{}, true
	want.RateLimit, want.AllowedIPs, want.RemainingUses, want.RateLimits = apikey.RateLimit{}, nil, nil, nil
	want.CreatedBy, want.DisabledBy = "", ""
	want.Refill, want.RefilledAt = nil, time.Time{}
	want.UpdatedAt = at(120)
	got, err = s.Update(ctx, k.ID, func(cur *apikey.Key) error {
		cur.Scopes, cur.Metadata, cur.ExpiresAt, cur.Enabled = nil, nil, time.Time{}, true
		cur.RateLimit, cur.AllowedIPs, cur.RemainingUses, cur.RateLimits = apikey.RateLimit{}, nil, nil, nil
		cur.CreatedBy, cur.DisabledBy = "", ""
		cur.Refill, cur.RefilledAt = nil, time.Time{}
		cur.UpdatedAt = want.UpdatedAt
		return nil
	})
	require.NoError(t, err)
	requireSameKey(t, want, got)
	requireFound(t, s, want)
}

func testUpdateIgnoresOtherFields(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k := newKey("alice")
	k.LastUsedAt = at(40)
	mustCreate(t, s, k)
	newDigest := randomDigest()
	got, err := s.Update(ctx, k.ID, func(cur *apikey.Key) error {
		cur.ID = "changed-id"
		cur.Digest[0] ^= 0xff // in place: the store must have handed fn a copy
		cur.Digest = newDigest
		cur.Hash = "changed-hash"
		cur.Start = "changed_start"
		cur.CreatedAt = at(500)
		cur.LastUsedAt = at(600)
		cur.UsesSpent = 700
		return nil
	})
	require.NoError(t, err)
	requireSameKey(t, k, got)
	requireFound(t, s, k)
	_, err = s.Get(ctx, "changed-id")
	require.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = s.FindByDigest(ctx, newDigest)
	require.ErrorIs(t, err, apikey.ErrNotFound)
}

func testUpdateFnError(t *testing.T, s apikey.Store) {
	errSentinel := errors.New("storetest: refused by fn")
	k := newKey("alice")
	mustCreate(t, s, k)
	_, err := s.Update(context.Background(), k.ID, func(cur *apikey.Key) error {
		cur.Name = "must not be stored"
		cur.Owner = "mallory"
		cur.Enabled = !cur.Enabled
		cur.Scopes = append(cur.Scopes, "admin")
		cur.Metadata = map[string]string{"x": "y"}
		cur.UpdatedAt = at(999)
		return errSentinel
	})
	require.ErrorIs(t, err, errSentinel)
	require.True(t, err == errSentinel, "fn's error must be returned unchanged, got %v", err)
	requireFound(t, s, k)
}

func testUpdateNotFound(t *testing.T, s apikey.Store) {
	called := false
	_, err := s.Update(context.Background(), "no-such-key", func(*apikey.Key) error {
		called = true
		return nil
	})
	require.ErrorIs(t, err, apikey.ErrNotFound)
	require.False(t, called, "fn must not run for an unknown key")
}

// testUpdateCopiesFnValues checks that the store does not keep the slices
// and maps fn put in the key.
func testUpdateCopiesFnValues(t *testing.T, s apikey.Store) {
	k := newKey("alice")
	mustCreate(t, s, k)
	scopes := []string{"a:read", "b:read"}
	meta := map[string]string{"k": "v"}
	_, err := s.Update(context.Background(), k.ID, func(cur *apikey.Key) error {
		cur.Scopes, cur.Metadata = scopes, meta
		return nil
	})
	require.NoError(t, err)
	scopes[0] = "admin:all"
	meta["k"] = "changed"
	meta["extra"] = "x"
	want := k.Clone()
	want.Scopes = []string{"a:read", "b:read"}
	want.Metadata = map[string]string{"k": "v"}
	requireFound(t, s, want)
}

// testUpdateConcurrent proves Update is atomic: each goroutine adds its own
// metadata entry by read-modify-write, and a store that lets two of them
// read the same old record loses an entry.
func testUpdateConcurrent(t *testing.T, s apikey.Store) {
	const n = 20
	k := newKey("alice")
	k.Metadata = map[string]string{"origin": "create"}
	mustCreate(t, s, k)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.Update(context.Background(), k.ID, func(cur *apikey.Key) error {
				m := maps.Clone(cur.Metadata)
				if m == nil {
					m = map[string]string{}
				}
				// Widen the window between read and write, so a
				// non-atomic store loses entries reliably.
				time.Sleep(time.Millisecond)
				m[fmt.Sprintf("g%02d", i)] = "x"
				cur.Metadata = m
				return nil
			})
			assert.NoError(t, err, "Update %d", i)
		})
	}
	close(start)
	wg.Wait()
	got := mustGet(t, s, k.ID)
	want := map[string]string{"origin": "create"}
	for i := range n {
		want[fmt.Sprintf("g%02d", i)] = "x"
	}
	require.Equal(t, want, got.Metadata, "concurrent Updates lost writes")
}

func testDelete(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	k, keep := newKey("alice"), newKey("alice")
	mustCreate(t, s, k, keep)
	require.NoError(t, s.Delete(ctx, k.ID))
	_, err := s.Get(ctx, k.ID)
	require.ErrorIs(t, err, apikey.ErrNotFound)
	_, err = s.FindByDigest(ctx, k.Digest)
	require.ErrorIs(t, err, apikey.ErrNotFound)
	require.ErrorIs(t, s.Delete(ctx, k.ID), apikey.ErrNotFound)
	require.Equal(t, []string{keep.ID}, idsOf(listAll(t, s, "")))
	requireFound(t, s, keep)

	// The digest and the ID are free again.
	reused := newKey("bob")
	reused.Digest = k.Clone().Digest
	mustCreate(t, s, reused)
	requireFound(t, s, reused)
	again := newKey("carol")
	again.ID = k.ID
	mustCreate(t, s, again)
	requireFound(t, s, again)
}

func testRecordLastUsed(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	a, b, c, d := newKey("alice"), newKey("alice"), newKey("bob"), newKey("bob")
	c.LastUsedAt = at(500)
	mustCreate(t, s, a, b, c, d)

	require.NoError(t, s.RecordLastUsed(ctx, map[string]time.Time{
		a.ID:          at(100),
		b.ID:          at(200),
		c.ID:          at(300), // older than c's: ignored
		"no-such-key": at(400),
	}))
	a.LastUsedAt, b.LastUsedAt = at(100), at(200)
	for _, k := range []apikey.Key{a, b, c, d} {
		requireFound(t, s, k)
	}
	_, err := s.Get(ctx, "no-such-key")
	require.ErrorIs(t, err, apikey.ErrNotFound, "RecordLastUsed must not create keys")

	require.NoError(t, s.RecordLastUsed(ctx, map[string]time.Time{
		a.ID: at(50),  // older: ignored
		b.ID: at(200), // equal: kept
		c.ID: at(501), // newer: moves forward
		d.ID: {},      // zero never moves anything forward
	}))
	c.LastUsedAt = at(501)
	for _, k := range []apikey.Key{a, b, c, d} {
		requireFound(t, s, k)
	}
	keys := listAll(t, s, "")
	require.Len(t, keys, 4)
	for i, k := range []apikey.Key{a, b, c, d} {
		requireSameKey(t, k, keys[i])
	}
}

func testRecordLastUsedEmpty(t *testing.T, s apikey.Store) {
	k := newKey("alice")
	mustCreate(t, s, k)
	require.NoError(t, s.RecordLastUsed(context.Background(), map[string]time.Time{}))
	require.NoError(t, s.RecordLastUsed(context.Background(), nil))
	requireFound(t, s, k)
}

// testConcurrent runs every operation from many goroutines at once. Under
// -race it finds data races; on SQL stores it finds lock errors.
func testConcurrent(t *testing.T, s apikey.Store) {
	const workers, perWorker = 8, 6
	ctx := context.Background()
	all := make([][]apikey.Key, workers)
	for w := range all {
		for range perWorker {
			all[w] = append(all[w], newKey(fmt.Sprintf("owner-%d", w)))
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for i, k := range all[w] {
				if !assert.NoError(t, s.Create(ctx, k)) {
					return
				}
				got, err := s.FindByDigest(ctx, k.Digest)
				if assert.NoError(t, err) {
					assert.Equal(t, k.ID, got.ID)
				}
				// Another worker's key may or may not exist yet.
				other := all[(w+1)%workers][i]
				if got, err := s.FindByDigest(ctx, other.Digest); err == nil {
					assert.Equal(t, other.ID, got.ID)
				} else {
					assert.ErrorIs(t, err, apikey.ErrNotFound)
				}
				_, err = s.Update(ctx, k.ID, func(cur *apikey.Key) error {
					cur.Name = "updated"
					return nil
				})
				assert.NoError(t, err)
				assert.NoError(t, s.RecordLastUsed(ctx, map[string]time.Time{k.ID: at(i + 1), other.ID: at(i + 1)}))
				_, err = s.List(ctx, apikey.ListOptions{Owner: other.Owner, Limit: 3})
				assert.NoError(t, err)
				if i%2 == 1 {
					assert.NoError(t, s.Delete(ctx, k.ID))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	var want []string
	for w := range all {
		for i, k := range all[w] {
			if i%2 == 0 {
				want = append(want, k.ID)
			}
		}
	}
	slices.Sort(want)
	got := listAll(t, s, "")
	require.Equal(t, want, idsOf(got))
	for _, k := range got {
		require.Equal(t, "updated", k.Name)
		require.False(t, k.LastUsedAt.IsZero(), "key %s has no last-used time", k.ID)
	}
}

func uses(n int64) *int64 { return &n }

func usageStore(t *testing.T, s apikey.Store) apikey.UsageStore {
	t.Helper()
	us, ok := s.(apikey.UsageStore)
	if !ok {
		t.Skipf("%T does not implement apikey.UsageStore", s)
	}
	return us
}

func testSpendUse(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	limited, unlimited := newKey("alice"), newKey("alice")
	limited.RemainingUses = uses(3)
	mustCreate(t, s, limited, unlimited)
	for _, want := range []int64{2, 1, 0} {
		left, err := us.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: spendTime})
		require.NoError(t, err)
		require.Equal(t, want, left)
	}
	for range 2 {
		_, err := us.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: spendTime})
		require.ErrorIs(t, err, apikey.ErrUsageExhausted)
	}
	got := mustGet(t, s, limited.ID)
	require.NotNil(t, got.RemainingUses)
	require.Zero(t, *got.RemainingUses, "a spent key stays at zero, never below")
	found, err := s.FindByDigest(ctx, limited.Digest)
	require.NoError(t, err)
	require.Zero(t, *found.RemainingUses)

	left, err := us.SpendUse(ctx, apikey.Spend{ID: unlimited.ID, N: 1, Now: spendTime})
	require.NoError(t, err)
	require.Equal(t, int64(-1), left, "no limit")
	require.Nil(t, mustGet(t, s, unlimited.ID).RemainingUses)

	_, err = us.SpendUse(ctx, apikey.Spend{ID: "no-such-key", N: 1, Now: spendTime})
	require.ErrorIs(t, err, apikey.ErrNotFound)

	// Topping a key up through Update makes it usable again.
	_, err = s.Update(ctx, limited.ID, func(k *apikey.Key) error { k.RemainingUses = uses(1); return nil })
	require.NoError(t, err)
	left, err = us.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: spendTime})
	require.NoError(t, err)
	require.Zero(t, left)
}

// spendTime is the time uses are spent at: after every key's creation.
var spendTime = base.Add(24 * time.Hour)

// testSpendUseOnlyFromUsableKeys: the store, not the caller's copy of a
// key, decides whether a use may be spent. A disabled, rotated or expired
// key spends nothing and says why, whatever a cache elsewhere believes.
func testSpendUseOnlyFromUsableKeys(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	disabled, rotated, expired, live, unlimited := newKey("alice"), newKey("alice"), newKey("alice"), newKey("alice"), newKey("alice")
	for _, k := range []*apikey.Key{&disabled, &rotated, &expired, &live} {
		k.RemainingUses = uses(5)
	}
	disabled.Enabled = false
	rotated.RotatedTo = "key-successor"
	expired.ExpiresAt = spendTime // expired at that very instant
	live.ExpiresAt = spendTime.Add(time.Microsecond)
	unlimited.Enabled = false
	mustCreate(t, s, disabled, rotated, expired, live, unlimited)
	for _, tc := range []struct {
		k    apikey.Key
		want error
	}{
		{disabled, apikey.ErrKeyDisabled},
		{rotated, apikey.ErrKeyExpired},
		{expired, apikey.ErrKeyExpired},
	} {
		_, err := us.SpendUse(ctx, apikey.Spend{ID: tc.k.ID, N: 1, Now: spendTime})
		require.ErrorIs(t, err, tc.want, "key %s", tc.k.ID)
		assert.Equal(t, int64(5), *mustGet(t, s, tc.k.ID).RemainingUses, "nothing spent from %s", tc.k.ID)
	}
	left, err := us.SpendUse(ctx, apikey.Spend{ID: live.ID, N: 1, Now: spendTime})
	require.NoError(t, err, "a key expiring a microsecond later still spends")
	assert.Equal(t, int64(4), left)
	left, err = us.SpendUse(ctx, apikey.Spend{ID: unlimited.ID, N: 1, Now: spendTime})
	require.NoError(t, err)
	assert.Equal(t, int64(-1), left, "a key without a usage limit has nothing to spend")

	// Enabling the key again makes its uses spendable again.
	_, err = s.Update(ctx, disabled.ID, func(k *apikey.Key) error { k.Enabled = true; return nil })
	require.NoError(t, err)
	left, err = us.SpendUse(ctx, apikey.Spend{ID: disabled.ID, N: 1, Now: spendTime})
	require.NoError(t, err)
	assert.Equal(t, int64(4), left)
}

// day returns 00:00 UTC on day d of April 2025, after every key's times.
func day(d int) time.Time { return time.Date(2025, 4, d, 0, 0, 0, 0, time.UTC) }

// testSpendRefills: the spend refills a key whose last refill was in an
// earlier period, and only then; unused uses do not roll over unless the
// Refill says so; spent uses are counted.
func testSpendRefills(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	daily, rolling := newKey("alice"), newKey("alice")
	daily.RemainingUses, daily.Refill, daily.RefilledAt = uses(2), &apikey.Refill{Amount: 3, Interval: apikey.RefillDaily}, day(1)
	rolling.RemainingUses, rolling.Refill, rolling.RefilledAt = uses(2), &apikey.Refill{Amount: 3, Interval: apikey.RefillDaily, RollOver: true}, day(1)
	mustCreate(t, s, daily, rolling)
	spend := func(k apikey.Key, at time.Time) (int64, error) {
		return us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: at, Refill: k.Refill})
	}
	noon := 12 * time.Hour
	for _, want := range []int64{1, 0} {
		left, err := spend(daily, day(1).Add(noon))
		require.NoError(t, err)
		assert.Equal(t, want, left)
	}
	_, err := spend(daily, day(2).Add(-time.Microsecond))
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "no refill before the next day")
	left, err := spend(daily, day(2))
	require.NoError(t, err)
	assert.Equal(t, int64(2), left, "refilled to 3 at 00:00 UTC, then one spent")
	got := mustGet(t, s, daily.ID)
	assert.True(t, got.RefilledAt.Equal(day(2)), "refilled at %v", got.RefilledAt)
	assert.Equal(t, int64(3), got.UsesSpent)
	left, err = spend(daily, day(2).Add(noon))
	require.NoError(t, err)
	assert.Equal(t, int64(1), left, "once a period")

	left, err = spend(rolling, day(1).Add(noon))
	require.NoError(t, err)
	assert.Equal(t, int64(1), left)
	left, err = spend(rolling, day(5))
	require.NoError(t, err)
	assert.Equal(t, int64(3), left, "1 rolled over, 3 added, 1 spent")

	// A cost that does not fit spends nothing, refill or not.
	_, err = us.SpendUse(ctx, apikey.Spend{ID: daily.ID, N: 4, Now: day(9), Refill: daily.Refill})
	require.ErrorIs(t, err, apikey.ErrUsageExhausted)
	got = mustGet(t, s, daily.ID)
	assert.Equal(t, int64(1), *got.RemainingUses, "not refilled by a refused spend either")
	left, err = us.SpendUse(ctx, apikey.Spend{ID: daily.ID, N: 3, Now: day(9), Refill: daily.Refill})
	require.NoError(t, err)
	assert.Equal(t, int64(0), left)
	assert.Equal(t, int64(7), mustGet(t, s, daily.ID).UsesSpent)
}

// testSpendRollOverStops: a refill that rolls over stops at
// apikey.MaxRemainingUses, whatever the store holds, rather than wrap
// around or fail.
func testSpendRollOverStops(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	// Beyond it, a store holds what an older version or a hand-written
	// UPDATE put there; the sum would overflow an int64.
	for name, start := range map[string]int64{"near the most": apikey.MaxRemainingUses - 1, "beyond it": math.MaxInt64 - 1} {
		k := newKey("alice")
		k.RemainingUses, k.Refill, k.RefilledAt = uses(start), &apikey.Refill{Amount: apikey.MaxRemainingUses, Interval: apikey.RefillDaily, RollOver: true}, day(1)
		mustCreate(t, s, k)
		left, err := us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: day(2), Refill: k.Refill})
		require.NoError(t, err, name)
		assert.Equal(t, apikey.MaxRemainingUses-1, left, name)
		assert.Equal(t, apikey.MaxRemainingUses-1, *mustGet(t, s, k.ID).RemainingUses, name)
	}
}

// testSpendByStoredRefill: a caller whose copy of the key is stale (no
// Refill, another Refill) neither refills wrongly nor misses a refill.
func testSpendByStoredRefill(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	k := newKey("alice")
	k.RemainingUses, k.Refill, k.RefilledAt = uses(0), &apikey.Refill{Amount: 5, Interval: apikey.RefillMonthly, Day: 31}, time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	mustCreate(t, s, k)
	feb := time.Date(2025, 2, 28, 1, 0, 0, 0, time.UTC) // the period of "day 31" starts on the 28th
	left, err := us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: feb})
	require.NoError(t, err, "a caller that read no Refill")
	assert.Equal(t, int64(4), left)
	left, err = us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: feb, Refill: &apikey.Refill{Amount: 100, Interval: apikey.RefillDaily}})
	require.NoError(t, err, "a caller that read another Refill")
	assert.Equal(t, int64(3), left, "spent by the stored Refill: no refill of 100")
	_, err = us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 4, Now: time.Date(2025, 3, 30, 23, 0, 0, 0, time.UTC), Refill: k.Refill})
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "March's period starts on the 31st")
	left, err = us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 4, Now: time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), Refill: k.Refill})
	require.NoError(t, err)
	assert.Equal(t, int64(1), left)
}

// testSpendConcurrentAcrossARefill: racing spenders get exactly what the
// refilled key has, and the count never goes below zero.
func testSpendConcurrentRefill(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	k := newKey("alice")
	k.RemainingUses, k.Refill, k.RefilledAt = uses(0), &apikey.Refill{Amount: 17, Interval: apikey.RefillDaily}, day(1)
	mustCreate(t, s, k)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 6 {
				_, err := us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: day(2).Add(time.Hour), Refill: k.Refill})
				if err == nil {
					ok.Add(1)
				} else if !errors.Is(err, apikey.ErrUsageExhausted) {
					t.Errorf("SpendUse: %v", err)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(17), ok.Load(), "refilled once, spent exactly")
	got := mustGet(t, s, k.ID)
	assert.Equal(t, int64(0), *got.RemainingUses)
	assert.Equal(t, int64(17), got.UsesSpent)
}

func ownerStore(t *testing.T, s apikey.Store) apikey.OwnerStore {
	t.Helper()
	os, ok := s.(apikey.OwnerStore)
	if !ok {
		t.Skipf("%T does not implement apikey.OwnerStore", s)
	}
	return os
}

// testOwnerPolicies: policies round-trip; a new one replaces an old one
// but keeps what spending moved; a deleted one is gone.
func testOwnerPolicies(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	os := ownerStore(t, s)
	want := apikey.OwnerPolicy{
		Owner:         "alice ü \"quoted\"",
		RateLimits:    []apikey.RateLimit{{Name: "team", Limit: 100, Window: time.Second}, {Name: "daily", Limit: 1000, Window: 24 * time.Hour}},
		RemainingUses: uses(40),
		Refill:        &apikey.Refill{Amount: 50, Interval: apikey.RefillMonthly, Day: 15, RollOver: true},
		RefilledAt:    day(1),
		MaxKeys:       7,
		UpdatedAt:     at(9),
	}
	require.NoError(t, os.PutOwner(ctx, want))
	other := apikey.OwnerPolicy{Owner: "bob", MaxKeys: 1, UpdatedAt: at(10)}
	require.NoError(t, os.PutOwner(ctx, other))
	got := ownerOf(t, os, want.Owner)
	requireSameOwner(t, want, got)
	requireSameOwner(t, other, ownerOf(t, os, "bob"))

	// Spent in the policy's period (day 1 to the 15th): counted.
	_, left, err := os.SpendPooled(ctx, apikey.Spend{N: 3, Now: day(3)}, false, want.Owner, want.Refill)
	require.NoError(t, err)
	assert.Equal(t, int64(37), left)

	changed := want
	changed.RateLimits, changed.RemainingUses, changed.Refill, changed.MaxKeys, changed.RefilledAt = nil, nil, nil, 0, day(2)
	require.NoError(t, os.PutOwner(ctx, changed))
	got = ownerOf(t, os, want.Owner)
	assert.Empty(t, got.RateLimits)
	assert.Nil(t, got.RemainingUses)
	assert.Nil(t, got.Refill)
	assert.Zero(t, got.MaxKeys)
	assert.True(t, got.RefilledAt.Equal(day(2)), "a replaced policy takes the new RefilledAt: %v", got.RefilledAt)
	assert.Equal(t, int64(3), got.UsesSpent, "and keeps what was spent")

	require.NoError(t, os.DeleteOwner(ctx, want.Owner))
	require.ErrorIs(t, os.DeleteOwner(ctx, want.Owner), apikey.ErrNotFound)
	list, err := os.Owners(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "bob", list[0].Owner)
}

func ownerOf(t *testing.T, os apikey.OwnerStore, owner string) apikey.OwnerPolicy {
	t.Helper()
	list, err := os.Owners(context.Background())
	require.NoError(t, err)
	for _, p := range list {
		if p.Owner == owner {
			return p
		}
	}
	t.Fatalf("no policy for owner %q", owner)
	return apikey.OwnerPolicy{}
}

func requireSameOwner(t *testing.T, want, got apikey.OwnerPolicy) {
	t.Helper()
	assert.Equal(t, want.Owner, got.Owner)
	if len(want.RateLimits) == 0 {
		assert.Empty(t, got.RateLimits)
	} else {
		assert.Equal(t, want.RateLimits, got.RateLimits)
	}
	assert.Equal(t, want.RemainingUses, got.RemainingUses)
	assert.Equal(t, want.Refill, got.Refill)
	assert.True(t, want.RefilledAt.Equal(got.RefilledAt), "RefilledAt %v, want %v", got.RefilledAt, want.RefilledAt)
	assert.Equal(t, want.MaxKeys, got.MaxKeys)
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt)
}

// testSpendPooled: a key's uses and its owner's are spent together or
// not at all; the owner's refill applies; a key without a usage limit
// spends only its owner's.
func testSpendPooled(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	os := ownerStore(t, s)
	limited, unlimited := newKey("carol"), newKey("carol")
	limited.RemainingUses = uses(1)
	mustCreate(t, s, limited, unlimited)
	refill := &apikey.Refill{Amount: 3, Interval: apikey.RefillDaily}
	require.NoError(t, os.PutOwner(ctx, apikey.OwnerPolicy{Owner: "carol", RemainingUses: uses(2), Refill: refill, RefilledAt: day(1), UpdatedAt: at(1)}))
	spend := func(k apikey.Key, key bool, now time.Time) (int64, int64, error) {
		return os.SpendPooled(ctx, apikey.Spend{ID: k.ID, N: 1, Now: now, Refill: k.Refill}, key, "carol", refill)
	}
	keyLeft, ownerLeft, err := spend(limited, true, day(1))
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 1}, []int64{keyLeft, ownerLeft})
	_, _, err = spend(limited, true, day(1))
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the key's own uses are spent")
	assert.Equal(t, int64(1), *ownerOf(t, os, "carol").RemainingUses, "and the owner's were not touched")

	keyLeft, ownerLeft, err = spend(unlimited, false, day(1))
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 0}, []int64{keyLeft, ownerLeft})
	_, err = s.Update(ctx, limited.ID, func(k *apikey.Key) error { k.RemainingUses = uses(10); return nil })
	require.NoError(t, err)
	_, _, err = spend(limited, true, day(1))
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the owner's uses are spent")
	assert.Equal(t, int64(10), *mustGet(t, s, limited.ID).RemainingUses, "and the key's were not touched")

	keyLeft, ownerLeft, err = spend(limited, true, day(2))
	require.NoError(t, err, "the owner's uses are refilled the next day")
	assert.Equal(t, []int64{9, 2}, []int64{keyLeft, ownerLeft})
	p := ownerOf(t, os, "carol")
	assert.True(t, p.RefilledAt.Equal(day(2)))
	assert.Equal(t, int64(3), p.UsesSpent)

	// A caller whose copy of the owner's Refill is stale spends by the
	// stored one.
	_, ownerLeft, err = os.SpendPooled(ctx, apikey.Spend{ID: unlimited.ID, N: 1, Now: day(2)}, false, "carol", nil)
	require.NoError(t, err)
	assert.Equal(t, int64(1), ownerLeft)
}

// testSpendPooledRollOverStops: an owner's uses rolled over at a refill
// stop at MaxRemainingUses, as a key's do, from a count stored beyond it
// too.
func testSpendPooledRollOverStops(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	os := ownerStore(t, s)
	refill := &apikey.Refill{Amount: apikey.MaxRemainingUses, Interval: apikey.RefillDaily, RollOver: true}
	for i, start := range []int64{apikey.MaxRemainingUses - 1, math.MaxInt64 - 1} {
		owner := fmt.Sprintf("dave-%d", i)
		k := newKey(owner)
		mustCreate(t, s, k)
		require.NoError(t, os.PutOwner(ctx, apikey.OwnerPolicy{Owner: owner, RemainingUses: uses(start), Refill: refill, RefilledAt: day(1), UpdatedAt: at(1)}))
		keyLeft, ownerLeft, err := os.SpendPooled(ctx, apikey.Spend{ID: k.ID, N: 1, Now: day(2)}, false, owner, refill)
		require.NoError(t, err, "from %d", start)
		assert.Equal(t, []int64{-1, apikey.MaxRemainingUses - 1}, []int64{keyLeft, ownerLeft}, "from %d", start)
		assert.Equal(t, apikey.MaxRemainingUses-1, *ownerOf(t, os, owner).RemainingUses, "from %d", start)
	}
}

// testSpendPooledWithoutSharedUses: a caller whose copy of the owner's
// policy is stale (another process removed the policy, or its shared
// uses) spends from the key alone, as there is nothing of the owner's to
// spend: the owner's keys are not refused as if its uses had run out.
func testSpendPooledWithoutSharedUses(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	os := ownerStore(t, s)
	limited, unlimited := newKey("erin"), newKey("erin")
	limited.RemainingUses = uses(5)
	other := newKey("fred")
	mustCreate(t, s, limited, unlimited, other)
	require.NoError(t, os.PutOwner(ctx, apikey.OwnerPolicy{Owner: "fred", UpdatedAt: at(1)})) // rate limits only, say
	for _, owner := range []string{"erin", "fred"} {
		k := limited
		if owner == "fred" {
			k = other
		}
		_, ownerLeft, err := os.SpendPooled(ctx, apikey.Spend{ID: k.ID, N: 1, Now: spendTime}, false, owner, nil)
		require.NoError(t, err, "%s shares no uses: none to run out of", owner)
		assert.Equal(t, int64(-1), ownerLeft)
	}
	keyLeft, ownerLeft, err := os.SpendPooled(ctx, apikey.Spend{ID: limited.ID, N: 2, Now: spendTime}, true, "erin", nil)
	require.NoError(t, err)
	assert.Equal(t, []int64{3, -1}, []int64{keyLeft, ownerLeft}, "the key's own uses are spent")
	_, _, err = os.SpendPooled(ctx, apikey.Spend{ID: limited.ID, N: 4, Now: spendTime}, true, "erin", nil)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the key's own uses still count")
	assert.Equal(t, int64(3), *mustGet(t, s, limited.ID).RemainingUses)
}

// testSpendPooledConcurrent: keys of one owner racing for its uses get
// exactly them.
func testSpendPooledConcurrent(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	os := ownerStore(t, s)
	keys := []apikey.Key{newKey("dave"), newKey("dave"), newKey("dave")}
	keys[0].RemainingUses = uses(1000)
	mustCreate(t, s, keys...)
	require.NoError(t, os.PutOwner(ctx, apikey.OwnerPolicy{Owner: "dave", RemainingUses: uses(23), UpdatedAt: at(1)}))
	var ok atomic.Int64
	var wg sync.WaitGroup
	for g := range 6 {
		k := keys[g%3]
		wg.Go(func() {
			for range 8 {
				_, _, err := os.SpendPooled(ctx, apikey.Spend{ID: k.ID, N: 1, Now: spendTime}, k.RemainingUses != nil, "dave", nil)
				if err == nil {
					ok.Add(1)
				} else if !errors.Is(err, apikey.ErrUsageExhausted) {
					t.Errorf("SpendPooled: %v", err)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(23), ok.Load(), "exactly the owner's uses")
	p := ownerOf(t, os, "dave")
	assert.Equal(t, int64(0), *p.RemainingUses)
	k0 := mustGet(t, s, keys[0].ID)
	assert.Equal(t, int64(1000), *k0.RemainingUses+k0.UsesSpent, "the limited key spent with its owner, no more")
	assert.LessOrEqual(t, k0.UsesSpent, int64(23))
}

// testRehash: a Rehasher moves a key to a new digest only from the old
// one, and the key is then found by the new digest alone.
func testRehash(t *testing.T, s apikey.Store) {
	r, ok := s.(apikey.Rehasher)
	if !ok {
		t.Skipf("%T does not implement apikey.Rehasher", s)
	}
	ctx := context.Background()
	k, other := newKey("alice"), newKey("alice")
	mustCreate(t, s, k, other)
	digest := randomDigest()
	require.ErrorIs(t, r.Rehash(ctx, k.ID, randomDigest(), "hmac-sha256:x", digest), apikey.ErrNotFound, "not from another digest")
	require.ErrorIs(t, r.Rehash(ctx, "no-such-key", k.Digest, "hmac-sha256:x", digest), apikey.ErrNotFound)
	require.ErrorIs(t, r.Rehash(ctx, k.ID, k.Digest, "hmac-sha256:x", other.Digest), apikey.ErrDuplicate, "not to a digest in use")
	require.NoError(t, r.Rehash(ctx, k.ID, k.Digest, "hmac-sha256:x", digest))
	got := mustGet(t, s, k.ID)
	assert.Equal(t, "hmac-sha256:x", got.Hash)
	assert.Equal(t, digest, got.Digest)
	_, err := s.FindByDigest(ctx, k.Digest)
	require.ErrorIs(t, err, apikey.ErrNotFound, "the old digest finds nothing")
	found, err := s.FindByDigest(ctx, digest)
	require.NoError(t, err)
	assert.Equal(t, k.ID, found.ID)
	require.ErrorIs(t, r.Rehash(ctx, k.ID, k.Digest, "sha256", randomDigest()), apikey.ErrNotFound, "only once")
}

// testSpendUseConcurrent races many spenders for a key with a few uses:
// exactly that many must succeed, whatever the interleaving.
func testSpendUseConcurrent(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	us := usageStore(t, s)
	const uses, goroutines, attempts = 25, 8, 10
	k := newKey("alice")
	k.RemainingUses = &[]int64{uses}[0]
	mustCreate(t, s, k)
	var ok, exhausted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range attempts {
				_, err := us.SpendUse(ctx, apikey.Spend{ID: k.ID, N: 1, Now: spendTime})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, apikey.ErrUsageExhausted):
					exhausted.Add(1)
				default:
					t.Errorf("SpendUse: %v", err)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(uses), ok.Load(), "successful spends")
	require.Equal(t, int64(goroutines*attempts-uses), exhausted.Load(), "refused spends")
	require.Zero(t, *mustGet(t, s, k.ID).RemainingUses)
}
