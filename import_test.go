package apikey_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/testkit"
)

// oldShape is the shape of the keys another system issued: sk- and 48
// letters and digits.
var oldShape = regexp.MustCompile(`^sk-[A-Za-z0-9]{48}$`).MatchString

// oldKey makes a key as the other system did.
func oldKey() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	k := "sk-" + string(b)
	rememberKeys(k)
	return k
}

func hmacHasher(t testing.TB) apikey.Hasher {
	h, err := apikey.HMACSHA256("2026", []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	return h
}

// Keys another system issued keep working after an import: by plaintext
// (hashed at once) or by SHA-256 digest (rehashed to the current Hasher
// on first use); rotation hands out a key in this library's format; the
// shape opens nothing for this library's own keys.
func TestImport(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithHashers(hmacHasher(t)), apikey.WithImportedKeys(oldShape))
	plainKey, digestKey := oldKey(), oldKey()
	digest := sha256.Sum256([]byte(digestKey))
	recs, err := m.Import(ctx, []apikey.ImportKey{
		{Owner: "alice", Name: "old ci", Scopes: []string{"bots:read"}, Plaintext: plainKey},
		{Owner: "bob", SHA256: digest[:], Start: "sk-9f", ExpiresAt: time.Now().Add(time.Hour)},
	})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, "hmac-sha256:2026", recs[0].Hash, "a plaintext is hashed with the current Hasher")
	assert.Equal(t, plainKey[:8], recs[0].Start)
	assert.Equal(t, "sha256", recs[1].Hash)
	assert.Equal(t, "sk-9f", recs[1].Start)

	stored, err := store.Get(ctx, recs[0].ID)
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v %s", stored, stored.Digest), plainKey[8:24], "the plaintext is not kept")

	p, err := m.Verify(ctx, plainKey)
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Owner)
	assert.True(t, p.HasScope("bots:read"))

	p, err = m.Verify(ctx, digestKey)
	require.NoError(t, err, "found by its SHA-256 digest")
	assert.Equal(t, "bob", p.Owner)
	k, err := m.Get(ctx, recs[1].ID)
	require.NoError(t, err)
	assert.Equal(t, "hmac-sha256:2026", k.Hash, "rehashed on first use")
	assert.NotEqual(t, digest[:], k.Digest)
	_, err = m.Verify(ctx, digestKey)
	require.NoError(t, err, "and found by its new digest")

	// Garbage of the old shape is an unknown key, after lookups; this
	// library's shape with a bad checksum still costs none.
	finds := store.Finds.Load()
	_, err = m.Verify(ctx, oldKey())
	require.ErrorIs(t, err, apikey.ErrUnknownKey)
	assert.Equal(t, int64(2), store.Finds.Load()-finds, "SHA-256, then the current Hasher")
	own, _ := mustCreate(t, m, apikey.NewKey{})
	finds = store.Finds.Load()
	_, err = m.Verify(ctx, testkit.ChangeLast(own))
	require.ErrorIs(t, err, apikey.ErrMalformedKey)
	assert.Equal(t, finds, store.Finds.Load(), "no lookup for a bad checksum")

	// Rotation moves the holder to this library's format.
	next, _, err := m.Rotate(ctx, recs[0].ID, 0)
	require.NoError(t, err)
	rememberKeys(next)
	prefix, err := apikey.ParseKey(next)
	require.NoError(t, err)
	assert.Equal(t, apikey.DefaultPrefix, prefix)
	_, err = m.Verify(ctx, plainKey)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)

	// Without WithImportedKeys, the old shape is malformed: no lookup.
	plain := newManager(t, store)
	_, err = plain.Verify(ctx, digestKey)
	require.ErrorIs(t, err, apikey.ErrMalformedKey)
}

// Behind caches on two replicas, a rehash on one does not lock the key
// out on the other: it finds the key by its new digest once its cached
// entry for the old one is gone.
func TestImportRehashBehindCaches(t *testing.T) {
	ctx := context.Background()
	shared := apikey.NewMemoryStore()
	clock := newFakeClock()
	replica := func() *apikey.Manager {
		c := cache.New(shared, cache.WithClock(clock.Now))
		return newManager(t, c, apikey.WithClock(clock.Now), apikey.WithHashers(hmacHasher(t)), apikey.WithImportedKeys(oldShape))
	}
	a, b := replica(), replica()
	key := oldKey()
	d := sha256.Sum256([]byte(key))
	_, err := a.Import(ctx, []apikey.ImportKey{{Owner: "alice", SHA256: d[:]}})
	require.NoError(t, err)
	_, err = b.Verify(ctx, key) // B caches the key by its old digest; this rehashes it
	require.NoError(t, err)
	for range 3 {
		for _, m := range []*apikey.Manager{a, b} {
			_, err = m.Verify(ctx, key)
			require.NoError(t, err)
		}
		clock.Advance(cache.DefaultTTL)
	}
}

// A bad row stops the whole import, named by its row; a row refused by
// the store reports what was stored before it.
func TestImportRefusesBadRows(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithImportedKeys(oldShape))
	good := func() apikey.ImportKey { return apikey.ImportKey{Owner: "alice", Plaintext: oldKey()} }
	secret := oldKey()
	for name, bad := range map[string]apikey.ImportKey{
		"no owner":                     {Plaintext: oldKey()},
		"neither plaintext nor digest": {Owner: "a"},
		"both":                         {Owner: "a", Plaintext: secret, SHA256: make([]byte, 32)},
		"a short digest":               {Owner: "a", SHA256: make([]byte, 20)},
		"a key of no known shape":      {Owner: "a", Plaintext: "not-a-known-shape-" + secret[3:20]},
		"a key with a space":           {Owner: "a", Plaintext: "sk-" + secret[3:20] + " x"},
		"a bad scope":                  {Owner: "a", Plaintext: oldKey(), Scopes: []string{"two words"}},
		"a start too long":             {Owner: "a", Plaintext: oldKey(), Start: "0123456789abcdef"},
	} {
		rows := []apikey.ImportKey{good(), bad, good()}
		recs, err := m.Import(ctx, rows)
		var ie *apikey.ImportError
		require.ErrorAs(t, err, &ie, name)
		assert.Equal(t, 2, ie.Row, name)
		assert.ErrorIs(t, err, apikey.ErrInvalidInput, name)
		assert.Nil(t, recs, name)
		assert.NotContains(t, err.Error(), secret[3:20], name)
	}
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Keys, "nothing half-imported")

	twice := good()
	_, err = m.Import(ctx, []apikey.ImportKey{good(), twice, twice})
	var ie *apikey.ImportError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 3, ie.Row)
	assert.ErrorIs(t, err, apikey.ErrDuplicate)

	stored := good()
	_, err = m.Import(ctx, []apikey.ImportKey{stored})
	require.NoError(t, err)
	recs, err := m.Import(ctx, []apikey.ImportKey{good(), stored, good()})
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 2, ie.Row)
	assert.ErrorIs(t, err, apikey.ErrDuplicate)
	assert.Contains(t, err.Error(), "stored already, as key")
	assert.Empty(t, recs, "a key stored already is found before anything is stored")
}

// 10,000 keys of another system, imported in one call, then verified.
func TestImportTenThousand(t *testing.T) {
	ctx := context.Background()
	// No suite logger: 10,000 verifications would fill the log the suite
	// scans with lines that hold no key anyway.
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithImportedKeys(oldShape), apikey.WithLogger(nil))
	defer m.Close()
	rows := make([]apikey.ImportKey, 10_000)
	plains := make([]string, len(rows))
	for i := range rows {
		plains[i] = "sk-" + rand.Text() + rand.Text()[:22]
		d := sha256.Sum256([]byte(plains[i]))
		rows[i] = apikey.ImportKey{Owner: fmt.Sprintf("user%d", i%100), SHA256: d[:]}
	}
	start := time.Now()
	recs, err := m.Import(ctx, rows)
	took := time.Since(start)
	require.NoError(t, err)
	require.Len(t, recs, len(rows))
	t.Logf("imported %d keys in %v", len(rows), took.Round(time.Millisecond))
	for i, p := range plains {
		got, err := m.Verify(ctx, p)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("user%d", i%100), got.Owner)
	}
}

// batchStore is a MemoryStore that is an apikey.BatchStore, and counts
// the calls of each way to create.
type batchStore struct {
	*apikey.MemoryStore
	mu            sync.Mutex
	batches, ones int
	refuse        []byte // a digest the store fails to store
}

var errRefused = errors.New("the store failed")

func (s *batchStore) Create(ctx context.Context, k apikey.Key) error {
	s.mu.Lock()
	s.ones++
	refuse := bytes.Equal(k.Digest, s.refuse)
	s.mu.Unlock()
	if refuse {
		return errRefused
	}
	return s.MemoryStore.Create(ctx, k)
}

// CreateMany is all or none: it checks every key before storing one.
func (s *batchStore) CreateMany(ctx context.Context, keys []apikey.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	ids, digests := map[string]bool{}, map[string]bool{}
	for _, k := range keys {
		_, errID := s.Get(ctx, k.ID)
		_, errDigest := s.FindByDigest(ctx, k.Digest)
		if errID == nil || errDigest == nil || ids[k.ID] || digests[string(k.Digest)] {
			return fmt.Errorf("%w: key %s", apikey.ErrDuplicate, k.ID)
		}
		if bytes.Equal(k.Digest, s.refuse) {
			return errRefused
		}
		ids[k.ID], digests[string(k.Digest)] = true, true
	}
	for _, k := range keys {
		if err := s.MemoryStore.Create(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// Import gives a BatchStore a thousand keys at a time; when it refuses a
// thousand, Import stores them one at a time, so the rows before the one
// refused are stored and reported, and none after it.
func TestImportInBatches(t *testing.T) {
	ctx := context.Background()
	rows := func(n int) []apikey.ImportKey {
		out := make([]apikey.ImportKey, n)
		for i := range out {
			d := sha256.Sum256([]byte(rand.Text()))
			out[i] = apikey.ImportKey{Owner: "alice", SHA256: d[:]}
		}
		return out
	}
	store := &batchStore{MemoryStore: apikey.NewMemoryStore()}
	m := apikey.New(store, apikey.WithLogger(nil))
	defer m.Close()
	recs, err := m.Import(ctx, rows(2500))
	require.NoError(t, err)
	require.Len(t, recs, 2500)
	assert.Equal(t, 3, store.batches, "1,000, 1,000 and 500")
	assert.Equal(t, 0, store.ones)
	for _, r := range recs {
		_, err := m.Get(ctx, r.ID)
		require.NoError(t, err)
	}

	store.batches = 0
	again := rows(2500)
	store.refuse = again[1699].SHA256 // the store fails on row 1,700
	recs2, err := m.Import(ctx, again)
	var ie *apikey.ImportError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 1700, ie.Row)
	assert.ErrorIs(t, err, errRefused)
	require.Len(t, recs2, 1699, "the rows before it were stored, and are reported")
	assert.Equal(t, 2, store.batches, "the first thousand, then the one refused")
	assert.Equal(t, 700, store.ones, "rows 1,001 to 1,700 one at a time")
	page, err := m.List(ctx, apikey.ListOptions{Limit: apikey.MaxListLimit, After: recs2[len(recs2)-1].ID})
	require.NoError(t, err)
	assert.Empty(t, page.Keys, "nothing after the row refused")

	// A cache around a store that cannot batch says so, and Import stores
	// one key at a time.
	plain := &countingCreates{MemoryStore: apikey.NewMemoryStore()}
	cm := apikey.New(cache.New(plain), apikey.WithLogger(nil))
	defer cm.Close()
	recs, err = cm.Import(ctx, rows(1500))
	require.NoError(t, err)
	require.Len(t, recs, 1500)
	assert.Equal(t, int64(1500), plain.n.Load())
}

type countingCreates struct {
	*apikey.MemoryStore
	n atomic.Int64
}

func (s *countingCreates) Create(ctx context.Context, k apikey.Key) error {
	s.n.Add(1)
	return s.MemoryStore.Create(ctx, k)
}

// A key given twice is refused, also when one row gives its plaintext and
// another its SHA-256 digest under a Manager whose current Hasher is not
// SHA-256: stored twice, the key would act for whichever row its lookup
// finds first, and deleting that one would leave it working as the other.
func TestImportRefusesAKeyGivenAsPlaintextAndDigest(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithHashers(hmacHasher(t)), apikey.WithImportedKeys(oldShape))
	key := oldKey()
	d := sha256.Sum256([]byte(key))
	for name, rows := range map[string][]apikey.ImportKey{
		"plaintext, then digest": {{Owner: "alice", Plaintext: key}, {Owner: "bob", SHA256: d[:]}},
		"digest, then plaintext": {{Owner: "bob", SHA256: d[:]}, {Owner: "alice", Plaintext: key}},
	} {
		recs, err := m.Import(ctx, rows)
		var ie *apikey.ImportError
		require.ErrorAs(t, err, &ie, name)
		assert.Equal(t, 2, ie.Row, name)
		assert.ErrorIs(t, err, apikey.ErrDuplicate, name)
		assert.Nil(t, recs, name)
	}
	page, err := m.List(ctx, apikey.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, page.Keys, "nothing imported")
}

// WithImportedKeys weakens nothing for this library's own keys, however
// broad its shape: one with a bad checksum is still malformed, refused
// without a lookup, and cannot be imported to make it verify.
func TestImportedShapeNeverCoversOwnKeys(t *testing.T) {
	ctx := context.Background()
	store := newSpyStore()
	broad := regexp.MustCompile(`^[A-Za-z0-9_-]{16,}$`).MatchString
	m := newManager(t, store, apikey.WithImportedKeys(broad))
	own, _ := mustCreate(t, m, apikey.NewKey{})
	bad := testkit.ChangeLast(own)
	finds := store.Finds.Load()
	_, err := m.Verify(ctx, bad)
	require.ErrorIs(t, err, apikey.ErrMalformedKey)
	assert.Equal(t, finds, store.Finds.Load(), "no lookup for a bad checksum")

	_, err = m.Import(ctx, []apikey.ImportKey{{Owner: "alice", Plaintext: bad}})
	require.ErrorIs(t, err, apikey.ErrInvalidInput, "a key of this library's shape with a bad checksum could never be verified")

	// The old keys the shape is for still verify.
	old := oldKey()
	_, err = m.Import(ctx, []apikey.ImportKey{{Owner: "bob", Plaintext: old}})
	require.NoError(t, err)
	p, err := m.Verify(ctx, old)
	require.NoError(t, err)
	assert.Equal(t, "bob", p.Owner)
}

// A key already stored is refused, whichever form each import gave it
// in: stored by its SHA-256 digest, its plaintext imported later under an
// HMAC Hasher made a second record, and revoking the record it was found
// by left it working as the other. Nothing of the call is stored.
func TestImportRefusesAKeyStoredByItsDigest(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithHashers(hmacHasher(t)), apikey.WithImportedKeys(oldShape))
	key := oldKey()
	d := sha256.Sum256([]byte(key))
	first, err := m.Import(ctx, []apikey.ImportKey{{Owner: "bob", SHA256: d[:]}})
	require.NoError(t, err)
	recs, err := m.Import(ctx, []apikey.ImportKey{{Owner: "alice", Plaintext: oldKey()}, {Owner: "alice", Plaintext: key}})
	var ie *apikey.ImportError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 2, ie.Row)
	assert.ErrorIs(t, err, apikey.ErrDuplicate, "the key is stored already")
	assert.Contains(t, err.Error(), first[0].ID)
	assert.NotContains(t, err.Error(), key[3:20])
	assert.Empty(t, recs)
	page, err := m.List(ctx, apikey.ListOptions{Owner: "alice"})
	require.NoError(t, err)
	assert.Empty(t, page.Keys, "nothing of the call is stored")

	require.NoError(t, m.Revoke(ctx, first[0].ID))
	_, err = m.Verify(ctx, key)
	assert.Error(t, err, "a revoked key no longer works")

	// Its plaintext stored under the HMAC, then given again: refused
	// before anything is stored too.
	again := oldKey()
	_, err = m.Import(ctx, []apikey.ImportKey{{Owner: "carol", Plaintext: again}})
	require.NoError(t, err)
	_, err = m.Import(ctx, []apikey.ImportKey{{Owner: "dave", Plaintext: again}})
	assert.ErrorIs(t, err, apikey.ErrDuplicate)
}

// A key verified as unknown behind a cache before its import verifies
// right after it: the import drops the cache's negative entries for it,
// given by plaintext or by digest, in a batch or one at a time.
func TestImportedKeyVerifiesThoughCachedAsUnknown(t *testing.T) {
	ctx := context.Background()
	for name, next := range map[string]apikey.Store{
		"batch":       &batchStore{MemoryStore: apikey.NewMemoryStore()},
		"one at once": apikey.NewMemoryStore(),
	} {
		m := newManager(t, cache.New(next), apikey.WithHashers(hmacHasher(t)), apikey.WithImportedKeys(oldShape))
		byPlain, byDigest := oldKey(), oldKey()
		for _, k := range []string{byPlain, byDigest} {
			_, err := m.Verify(ctx, k)
			require.ErrorIs(t, err, apikey.ErrUnknownKey, name)
		}
		d := sha256.Sum256([]byte(byDigest))
		_, err := m.Import(ctx, []apikey.ImportKey{{Owner: "a", Plaintext: byPlain}, {Owner: "b", SHA256: d[:]}})
		require.NoError(t, err, name)
		for _, k := range []string{byPlain, byDigest} {
			_, err := m.Verify(ctx, k)
			assert.NoError(t, err, name)
		}
	}
}
