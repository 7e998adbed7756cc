package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
)

// A Hasher turns a plaintext key into the digest that stores keep and look
// keys up by. Keys are long random strings, not passwords, so a fast hash is
// the right tool: a slow password hash (bcrypt, argon2) would add tens of
// milliseconds to every request and no security, since nobody can guess 178
// random bits.
//
// Each key records the ID of the Hasher that made its digest (Key.Hash), so
// a Manager configured with several Hashers (see [WithHashers]) still
// verifies keys made under an older one.
type Hasher interface {
	// ID names the algorithm and, for keyed hashes, which secret; it is
	// stored with each key. It must be unique among a Manager's hashers.
	ID() string
	// Sum appends the digest of key to b and returns the resulting slice,
	// as hash.Hash's Sum does, so the caller chooses where the digest
	// lives. It must be deterministic and safe for concurrent use, and must
	// not keep b.
	Sum(b []byte, key string) []byte
}

// SHA256 returns the default Hasher: plain SHA-256, with ID "sha256".
func SHA256() Hasher { return sha256Hasher{} }

type sha256Hasher struct{}

func (sha256Hasher) ID() string { return "sha256" }

func (sha256Hasher) Sum(b []byte, key string) []byte {
	var sum [sha256.Size]byte
	if len(key) <= maxKeyLen {
		// Copying to the stack spares the heap allocation []byte(key)
		// makes for strings over 32 bytes.
		var buf [maxKeyLen]byte
		n := copy(buf[:], key)
		sum = sha256.Sum256(buf[:n])
	} else {
		sum = sha256.Sum256([]byte(key))
	}
	return append(b, sum[:]...)
}

// MinSecretLen is the shortest secret HMACSHA256 accepts, in bytes.
const MinSecretLen = 32

// HMACSHA256 returns a Hasher that keys SHA-256 with a server-side secret
// (a "pepper"), so a stolen copy of the key table is useless without the
// secret too. Its ID is "hmac-sha256:" followed by id, which names the
// secret: give each secret its own id, and when you rotate the secret list
// the new Hasher first and the old ones after it in [WithHashers].
//
// It returns an error wrapping ErrInvalidInput when id is empty or has
// spaces, or when secret is shorter than MinSecretLen bytes.
func HMACSHA256(id string, secret []byte) (Hasher, error) {
	if id == "" || strings.ContainsAny(id, " \t\r\n") || len(id) > 64 {
		return nil, fmt.Errorf("%w: hasher id must be 1 to 64 characters without spaces", ErrInvalidInput)
	}
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: HMAC secret must be at least %d bytes", ErrInvalidInput, MinSecretLen)
	}
	secret = append([]byte(nil), secret...)
	h := &hmacHasher{id: "hmac-sha256:" + id}
	h.pool.New = func() any { return hmac.New(sha256.New, secret) }
	return h, nil
}

type hmacHasher struct {
	id   string
	pool sync.Pool // of hash.Hash: hmac.New allocates, Reset does not
}

func (h *hmacHasher) ID() string { return h.id }

func (h *hmacHasher) Sum(b []byte, key string) []byte {
	mac := h.pool.Get().(hash.Hash)
	mac.Reset()
	_, _ = io.WriteString(mac, key)
	b = mac.Sum(b)
	h.pool.Put(mac)
	return b
}

// equalDigests compares two digests in constant time.
//
// Stores find keys by digest through an index or a map, which is not
// constant-time; that is safe because the digest of a random 178-bit secret
// tells an attacker nothing they can use. The comparison here makes sure the
// record found really matches, without a data-dependent early exit.
func equalDigests(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
