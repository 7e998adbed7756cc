package apikey_test

import (
	"context"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// keyWithPrefix builds a key from a 30-character secret under any prefix,
// even one ValidatePrefix refuses, with the checksum the package gives
// its keys: CRC-32 (IEEE) of "<prefix>_<secret>" as 6 base62 digits.
func keyWithPrefix(prefix, secret string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	head := prefix + "_" + secret
	sum := crc32.ChecksumIEEE([]byte(head))
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = base62[sum%62]
		sum /= 62
	}
	return head + string(digits[:])
}

// keyLike returns the forms of a key that LooksLikeKey must catch: the key
// under other prefixes, including ones ParseKey refuses, and with text
// around it as a paste or a header would leave it.
func keyLike(t *testing.T, plain string) map[string]string {
	t.Helper()
	secret := secretOf(plain)[:30]
	valid := keyWithPrefix("ak", secret)
	_, err := apikey.ParseKey(valid)
	require.NoError(t, err, "keyWithPrefix makes keys the package accepts")
	return map[string]string{
		"the key":                   plain,
		"a newline after it":        plain + "\n",
		"spaces around it":          "  " + plain + " ",
		"a scheme before it":        "Bearer " + plain,
		"text after it":             plain + "xyz",
		"in a path":                 "/keys/" + plain + "/rotate",
		"prefix sk_live":            keyWithPrefix("sk_live", secret),
		"prefix of 32 bytes":        keyWithPrefix(strings.Repeat("p", apikey.MaxPrefixLen), secret),
		"prefix with a digit first": keyWithPrefix("9x", secret),
		"prefix with a hyphen":      keyWithPrefix("sk-live", secret),
		"prefix with a space":       keyWithPrefix("my key", secret),
		"an empty prefix":           keyWithPrefix("", secret),
		"a non-ASCII prefix":        keyWithPrefix("clé", secret),
	}
}

func TestLooksLikeKey(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	plain, k := mustCreate(t, m, apikey.NewKey{})
	for what, s := range keyLike(t, plain) {
		assert.True(t, apikey.LooksLikeKey(s), "%s", what)
	}
	// What an ID, a name or a path holds, and what is no longer a key: a
	// changed character or a cut breaks the checksum (a mistyped key is
	// not caught here, but TestMistypedKeyGivenAsID shows the Manager
	// still refuses it as an ID).
	changed := []byte(plain)
	changed[10] ^= 1
	for what, s := range map[string]string{
		"an ID":                            k.ID,
		"the table name":                   "api_keys_changes",
		"the start":                        k.Start,
		"empty":                            "",
		"the key less its last digit":      plain[:len(plain)-1],
		"the key with a character changed": string(changed),
		"the body without a prefix":        secretOf(plain),
		"36 base62 after a '-'":            strings.Replace(plain, "_", "-", 1),
		"a prefix too long to issue":       keyWithPrefix(strings.Repeat("p", apikey.MaxPrefixLen+1), secretOf(plain)[:30]),
	} {
		assert.False(t, apikey.LooksLikeKey(s), "%s", what)
	}
}

// idStore is a memory store that remembers every ID it was asked about.
type idStore struct {
	*apikey.MemoryStore
	mu  sync.Mutex
	ids []string
}

func (s *idStore) saw(id string) {
	s.mu.Lock()
	s.ids = append(s.ids, id)
	s.mu.Unlock()
}

func (s *idStore) Get(ctx context.Context, id string) (apikey.Key, error) {
	s.saw(id)
	return s.MemoryStore.Get(ctx, id)
}

func (s *idStore) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	s.saw(id)
	return s.MemoryStore.Update(ctx, id, fn)
}

func (s *idStore) Delete(ctx context.Context, id string) error {
	s.saw(id)
	return s.MemoryStore.Delete(ctx, id)
}

// managerIDMethods calls each Manager method that takes a key ID.
var managerIDMethods = map[string]func(m *apikey.Manager, id string) error{
	"Get":     func(m *apikey.Manager, id string) error { _, err := m.Get(context.Background(), id); return err },
	"Disable": func(m *apikey.Manager, id string) error { _, err := m.Disable(context.Background(), id); return err },
	"Enable":  func(m *apikey.Manager, id string) error { _, err := m.Enable(context.Background(), id); return err },
	"Revoke":  func(m *apikey.Manager, id string) error { return m.Revoke(context.Background(), id) },
	"Rotate": func(m *apikey.Manager, id string) error {
		_, _, err := m.Rotate(context.Background(), id, time.Hour)
		return err
	},
	"Update": func(m *apikey.Manager, id string) error {
		_, err := m.Update(context.Background(), id, apikey.SetName("x"))
		return err
	},
}

// A key given where an ID belongs is not found, and the error says it
// looks like a key without holding any of it; the store never sees it, so
// no store's error can quote it either.
func TestKeyGivenAsID(t *testing.T) {
	store := &idStore{MemoryStore: apikey.NewMemoryStore()}
	m := newManager(t, store, apikey.WithPrefix("lbk"))
	plain, k := mustCreate(t, m, apikey.NewKey{})
	secret := secretOf(plain)
	for method, call := range managerIDMethods {
		for what, id := range keyLike(t, plain) {
			err := call(m, id)
			require.Error(t, err, "%s(%s)", method, what)
			// Print the error only once it is known to hold no key: a
			// failing test must not leak one either.
			if holdsPartOf(err.Error(), secret) {
				t.Errorf("%s(%s): the error holds part of the key", method, what)
				continue
			}
			assert.True(t, errors.Is(err, apikey.ErrNotFound), "%s(%s): %v", method, what, err)
			assert.Equal(t, "apikey: key not found: that looks like a key, not an ID", err.Error(), "%s(%s)", method, what)
		}
	}
	store.mu.Lock()
	assert.Empty(t, store.ids, "no key-shaped ID reached the store")
	store.mu.Unlock()

	// Real IDs still work, and an unknown one is still named.
	got, err := m.Get(context.Background(), k.ID)
	require.NoError(t, err)
	assert.Equal(t, k.ID, got.ID)
	_, err = m.Get(context.Background(), "01NOSUCHKEY")
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	assert.Contains(t, err.Error(), "01NOSUCHKEY")
}

// holdsPartOf reports whether s holds testkit.RunLen characters of secret in a row.
func holdsPartOf(s, secret string) bool {
	for i := 0; i+testkit.RunLen <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+testkit.RunLen]) {
			return true
		}
	}
	return false
}

// managerIDMethods lists every Manager method that takes a key ID: a new
// method taking a context and a string must be added to it (or, like
// Verify, take a key on purpose).
// takesOwner lists the Manager's methods that take an owner, each run on
// a key given as the owner by TestKeyGivenAsOwner.
var takesOwner = map[string]func(m *apikey.Manager, owner string) error{
	"OwnerPolicy": func(m *apikey.Manager, o string) error {
		_, err := m.OwnerPolicy(context.Background(), o)
		return err
	},
	"DeleteOwnerPolicy": func(m *apikey.Manager, o string) error {
		return m.DeleteOwnerPolicy(context.Background(), o)
	},
}

// A key given where an owner belongs is refused without being repeated.
func TestKeyGivenAsOwner(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	for name, call := range takesOwner {
		for _, owner := range []string{plain, testkit.ChangeLast(plain)} {
			err := call(m, owner)
			require.ErrorIs(t, err, apikey.ErrNotFound, name)
			assert.Contains(t, err.Error(), "looks like a key", name)
			assert.NotContains(t, err.Error(), secretOf(plain)[:16], name)
		}
	}
	_, err := m.SetOwnerPolicy(context.Background(), apikey.OwnerPolicy{Owner: plain})
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
	assert.NotContains(t, err.Error(), secretOf(plain)[:16])
}

func TestKeyGivenAsIDCoversEveryMethod(t *testing.T) {
	takesKey := map[string]bool{"Verify": true, "VerifyFrom": true, "VerifyWithStatus": true}
	ctxType := reflect.TypeFor[context.Context]()
	typ := reflect.TypeFor[*apikey.Manager]()
	for i := range typ.NumMethod() {
		meth := typ.Method(i)
		ft := meth.Type // receiver first
		if ft.NumIn() < 3 || ft.In(1) != ctxType || ft.In(2).Kind() != reflect.String {
			continue
		}
		if takesKey[meth.Name] {
			continue
		}
		if takesOwner[meth.Name] != nil {
			continue // TestKeyGivenAsOwner
		}
		assert.Contains(t, managerIDMethods, meth.Name, "Manager.%s takes an ID: add it to managerIDMethods", meth.Name)
	}
}

// A key mistyped, cut or glued to another prefix still carries most of its
// secret: given as an ID, it is refused without being repeated, though its
// checksum no longer holds.
func TestMistypedKeyGivenAsID(t *testing.T) {
	store := &idStore{MemoryStore: apikey.NewMemoryStore()}
	m := newManager(t, store)
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	changed := []byte(plain)
	changed[10] ^= 1
	secret := secretOf(plain)
	for what, id := range map[string]string{
		"the key less its last digit":      plain[:len(plain)-1],
		"the key with a character changed": string(changed),
		"the key with a character added":   plain + "x",
		"the body without a prefix":        secret,
		"36 base62 after a '-'":            strings.Replace(plain, "_", "-", 1),
		"30 characters after an '_'":       "x_" + secret[:30],
		"the prefix and 16 characters":     plain[:len(plain)-len(secret)] + secret[:16],
	} {
		for name, call := range managerIDMethods {
			err := call(m, id)
			require.ErrorIs(t, err, apikey.ErrNotFound, "%s: %s", name, what)
			require.NotContains(t, err.Error(), secret[:16], "%s: %s", name, what)
			require.Contains(t, err.Error(), "that looks like a key, not an ID", "%s: %s", name, what)
		}
	}
	assert.Empty(t, store.ids, "no store saw a mistyped key")
	// What is not a key reaches the store as an ID.
	for _, id := range []string{"x_" + secret[:15], secret[:26], "01J9Z3XQ4V8N6T2R5M7K1H0C9B"} {
		_, err := m.Get(context.Background(), id)
		require.ErrorIs(t, err, apikey.ErrNotFound)
		assert.NotContains(t, err.Error(), "looks like a key", id)
	}
}
