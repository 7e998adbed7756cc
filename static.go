package apikey

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// AdminScope is the scope of the admin key read by StaticKeysFromEnv, and
// the scope the admin API treats as "manages every key".
const AdminScope = "admin"

// StaticKey is a key given by configuration rather than created in a
// store, such as an ADMIN_API_KEY environment variable. The Manager keeps
// only its digest. Static keys are checked after the store, and pass the
// same checks as stored keys: scopes, allow-lists, rate limits.
type StaticKey struct {
	// Key is the plaintext: 16 to 256 printable ASCII characters with no
	// spaces or commas. It need not have the Manager's prefix.
	Key string
	// ID names the key in logs, events and the Principal, such as
	// "static:admin". It must be unique and must not collide with stored
	// key IDs; "static:" keeps it apart from generated IDs.
	ID string
	// Owner is who the key acts for, as for stored keys.
	Owner string
	// Name is a label for logs, such as the variable it came from.
	Name string
	// Scopes are the permissions granted, such as AdminScope.
	Scopes []string
	// RateLimit limits the key's requests, as for stored keys.
	RateLimit RateLimit
	// AllowedIPs limits where the key may be used from, read as
	// NewKey.AllowedIPs is; New panics on a range Create would refuse.
	AllowedIPs []netip.Prefix
}

// Limits on static keys. A short operator-chosen key is guessable; 16
// characters is a floor, not a recommendation: generate them.
const (
	minStaticKeyLen = 16
	maxStaticKeyLen = 256
)

// StaticKeysFromEnv reads static keys from two environment variables:
// ADMIN_API_KEY, one key with owner "admin" and scope AdminScope, and
// VALID_API_KEYS, a comma-separated list of keys with owner "static" and
// no scopes. Unset or empty variables give no keys; a key that is too
// short or has spaces is an error (wrapping ErrInvalidInput) naming the
// variable, never the key.
func StaticKeysFromEnv(getenv func(string) string) ([]StaticKey, error) {
	var keys []StaticKey
	if admin := strings.TrimSpace(getenv("ADMIN_API_KEY")); admin != "" {
		keys = append(keys, StaticKey{Key: admin, ID: "static:admin", Owner: "admin", Name: "ADMIN_API_KEY", Scopes: []string{AdminScope}})
	}
	n := 0
	for _, v := range strings.Split(getenv("VALID_API_KEYS"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n++
		keys = append(keys, StaticKey{Key: v, ID: fmt.Sprintf("static:valid-%d", n), Owner: "static", Name: fmt.Sprintf("VALID_API_KEYS #%d", n)})
	}
	for _, k := range keys {
		if err := checkStaticKey(k); err != nil {
			return nil, fmt.Errorf("%w (from %s)", err, strings.SplitN(k.Name, " ", 2)[0])
		}
	}
	return keys, nil
}

// HasStaticScope reports whether one of the Manager's static keys
// (WithStaticKeys) grants scope. Static keys live in configuration, out of
// reach of Disable and Revoke: package admin counts a static key with
// AdminScope as a way in for an admin that no change to the store can
// take away.
func (m *Manager) HasStaticScope(scope string) bool {
	for _, k := range m.static {
		if slices.Contains(k.Scopes, scope) {
			return true
		}
	}
	return false
}

// staticDigest is how static keys are looked up: plain SHA-256 of the
// whole key, whatever Hashers the Manager uses for stored keys (static keys
// never reach a store).
func staticDigest(key string) [sha256.Size]byte {
	if len(key) > maxStaticKeyLen {
		return sha256.Sum256([]byte(key))
	}
	// Copying to the stack spares the heap allocation []byte(key) makes
	// for strings over 32 bytes: every request pays this once static keys
	// are configured.
	var buf [maxStaticKeyLen]byte
	n := copy(buf[:], key)
	return sha256.Sum256(buf[:n])
}
