package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
)

// Limits on imported keys: as long as static keys may be, and as printable.
const (
	minImportedKeyLen = minStaticKeyLen
	maxImportedKeyLen = maxStaticKeyLen
	maxImportedStart  = 12
)

// WithImportedKeys makes the Manager accept keys issued before the service
// used this library, once imported with Import: a credential without this
// library's shape for which match reports true is looked up like a key
// (by its plain SHA-256 digest, then by its digest under each Hasher),
// instead of being refused as malformed without a lookup. One found by a
// digest other than the current Hasher's is rehashed to it on its first
// use, where the store can (Rehasher). For example, for keys
// such as sk-… with 48 letters and digits:
//
//	apikey.WithImportedKeys(regexp.MustCompile(`^sk-[A-Za-z0-9]{48}$`).MatchString)
//
// It weakens nothing for this library's own keys: one with this
// library's shape and a bad checksum is still refused without a lookup.
// A match should be as narrow as the old keys' shape: every string it
// accepts costs a store lookup (a negative-cached one behind a cache).
func WithImportedKeys(match func(key string) bool) Option {
	return func(m *Manager) { m.imported = match }
}

// importedShape reports whether key is a candidate imported key: not this
// library's shape, but the shape WithImportedKeys accepts. A key with one
// of the Manager's prefixes and a body of a key's length and alphabet has
// this library's shape whatever its checksum: a broad match must not
// make a bad checksum cost lookups.
func (m *Manager) importedShape(key string) bool {
	return m.imported != nil && len(key) <= maxImportedKeyLen && !m.ownShape(key) && m.imported(key)
}

// ownShape reports whether key is one of the Manager's prefixes, '_' and
// a key's body, with or without a correct checksum.
func (m *Manager) ownShape(key string) bool {
	shaped := func(p string) bool {
		return len(key) == len(p)+1+bodyLen && hasPrefixSep(key, p) && validBase62(key[len(p)+1:])
	}
	if shaped(m.prefix) {
		return true
	}
	for _, p := range m.accepted {
		if shaped(p) {
			return true
		}
	}
	return false
}

// ImportKey describes a key issued by another system, for Import. Give
// either its Plaintext or its SHA256 digest.
type ImportKey struct {
	// Owner is required: the principal the key acts for.
	Owner string
	// Name, Description, Scopes, Metadata and ExpiresAt are as in NewKey;
	// ExpiresAt may be in the past (the key is imported expired).
	Name        string
	Description string
	Scopes      []string
	Metadata    map[string]string
	ExpiresAt   time.Time
	// Plaintext is the key itself, for a system that kept keys in plain
	// text. It is hashed with the Manager's current Hasher and never kept.
	// It must be 16 to 256 printable ASCII characters without spaces or
	// commas, and have this library's shape or the one WithImportedKeys
	// accepts (or it could never be verified).
	Plaintext string
	// SHA256 is the key's SHA-256 digest (32 bytes), for a system that
	// kept that. When the Manager's current Hasher is another, the key is
	// rehashed to it on its first use, where the store can (Rehasher).
	SHA256 []byte
	// Start is the key's first characters (at most 12), shown in lists so
	// people can tell keys apart; with a Plaintext, its first 8 when
	// empty. Never give more of a key than its owner would show anyone.
	Start string
}

// ImportError is the refusal of an import: Row is the 1-based position
// of the key that was refused in the list given to Import (the line of a
// file, for a caller that reads one line per key), and Err why. It wraps
// Err: ErrInvalidInput for a bad field, ErrDuplicate for a key already
// stored or given twice, or a store failure.
type ImportError struct {
	Row int
	Err error
}

func (e *ImportError) Error() string { return fmt.Sprintf("apikey: import row %d: %v", e.Row, e.Err) }

func (e *ImportError) Unwrap() error { return e.Err }

// Import stores keys issued by another system, so their holders keep
// using them (see WithImportedKeys) until they are rotated, which hands
// out a key in this library's format. It checks every key first and
// stores none if one is refused (an *ImportError naming its row: a bad
// field, or a key given twice). Then it stores them in order; if the store
// refuses one (a duplicate already stored, a failure), it returns the
// records stored so far with an *ImportError for that row, so the caller
// knows exactly what was imported. A store that is a BatchStore (SQLStore,
// and cache.Store around one) stores a thousand keys at a time, each
// thousand all or none; when it refuses a thousand, Import stores them
// one at a time to find the row. No plaintext is kept or returned.
func (m *Manager) Import(ctx context.Context, keys []ImportKey) ([]Key, error) {
	now := m.clock()
	records := make([]Key, len(keys))
	seen := map[[sha256.Size]byte]int{}
	for i, ik := range keys {
		k, err := m.importRecord(ik, now)
		if err != nil {
			return nil, &ImportError{Row: i + 1, Err: err}
		}
		// A key is known by its digest under its Hash and, given in
		// plain text, also by its SHA-256 digest: another row may give
		// the same key by that digest, which the current Hasher's does
		// not match.
		ids := [2][sha256.Size]byte{sha256.Sum256(append([]byte(k.Hash+"\x00"), k.Digest...))}
		n := 1
		if ik.Plaintext != "" && k.Hash != "sha256" {
			plain := sha256.Sum256([]byte(ik.Plaintext))
			ids[1], n = sha256.Sum256(append([]byte("sha256\x00"), plain[:]...)), 2
		}
		for _, d := range ids[:n] {
			if first, dup := seen[d]; dup {
				return nil, &ImportError{Row: i + 1, Err: fmt.Errorf("%w: the same key as row %d", ErrDuplicate, first)}
			}
		}
		for _, d := range ids[:n] {
			seen[d] = i + 1
		}
		if err := m.importedAlready(ctx, ik, k); err != nil {
			return nil, &ImportError{Row: i + 1, Err: err}
		}
		records[i] = k
	}
	bs, batched := m.store.(BatchStore)
	for start := 0; start < len(records); start += importBatch {
		end := min(start+importBatch, len(records))
		for i := start; i < end; i++ {
			id, err := newID(time.Now())
			if err != nil {
				return records[:start], &ImportError{Row: i + 1, Err: err} // none of this batch is stored
			}
			records[i].ID = id
		}
		if batched {
			err := bs.CreateMany(ctx, records[start:end])
			if err == nil {
				for i := start; i < end; i++ {
					records[i] = records[i].Clone()
				}
				continue
			}
			// None of the batch was stored: store it one key at a time,
			// which names the row the store refuses and keeps the rows
			// before it, as without a BatchStore.
			batched = !errors.Is(err, errors.ErrUnsupported)
		}
		for i := start; i < end; i++ {
			if err := m.store.Create(ctx, records[i]); err != nil {
				return records[:i], &ImportError{Row: i + 1, Err: err}
			}
			records[i] = records[i].Clone()
		}
	}
	return records, nil
}

// importedAlready refuses a key the store holds already in any digest
// form Verify finds a key by, so that no key is stored twice, as two
// records of which revoking one would leave the key working as the
// other: a key given in plain text is looked up by its SHA-256 digest and
// its digest under each of the Manager's Hashers, one given by its
// SHA-256 digest by that digest. (A digest cannot be matched against a
// key stored earlier from its plaintext under an HMAC Hasher, which
// SECURITY.md lists.)
func (m *Manager) importedAlready(ctx context.Context, ik ImportKey, k Key) error {
	digests := [][]byte{k.Digest}
	if ik.Plaintext != "" {
		digests = digests[:0]
		for _, h := range m.importHashers {
			digests = append(digests, h.Sum(nil, ik.Plaintext))
		}
	}
	for _, d := range digests {
		stored, err := m.store.FindByDigest(ctx, d)
		switch {
		case err == nil:
			return storedAlreadyError{stored.ID}
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	return nil
}

// storedAlreadyError is Import's ErrDuplicate for a key the store holds.
type storedAlreadyError struct{ id string }

func (e storedAlreadyError) Error() string {
	return "apikey: the key is stored already, as key " + e.id
}

func (e storedAlreadyError) Unwrap() error { return ErrDuplicate }

// importBatch is how many keys Import gives a BatchStore at once.
const importBatch = 1000

// importRecord checks ik and returns the record to store, without its ID.
func (m *Manager) importRecord(ik ImportKey, now time.Time) (Key, error) {
	nk := NewKey{Owner: ik.Owner, Name: ik.Name, Description: ik.Description, Scopes: ik.Scopes, Metadata: ik.Metadata}
	scopes, err := checkNewKey(&nk, now)
	if err != nil {
		return Key{}, err
	}
	k := Key{
		Owner: ik.Owner, Name: ik.Name, Description: ik.Description, Scopes: scopes,
		Metadata: maps.Clone(ik.Metadata), Enabled: true,
		ExpiresAt: ik.ExpiresAt.UTC().Truncate(time.Microsecond), CreatedAt: now, UpdatedAt: now,
	}
	if err := checkText("start", ik.Start, maxImportedStart, false); err != nil {
		return Key{}, err
	}
	switch {
	case ik.Plaintext != "" && ik.SHA256 != nil:
		return Key{}, fmt.Errorf("%w: give the plaintext or its SHA-256 digest, not both", ErrInvalidInput)
	case ik.Plaintext != "":
		if err := m.checkImportedPlaintext(ik.Plaintext); err != nil {
			return Key{}, err
		}
		k.Hash = m.hashIDs[0]
		k.Digest = m.hashers[0].Sum(nil, ik.Plaintext)
		k.Start = ik.Start
		if k.Start == "" {
			k.Start = ik.Plaintext[:8]
		}
	case len(ik.SHA256) == sha256.Size:
		k.Hash, k.Digest, k.Start = "sha256", append([]byte(nil), ik.SHA256...), ik.Start
	case ik.SHA256 != nil:
		return Key{}, fmt.Errorf("%w: a SHA-256 digest is %d bytes, not %d", ErrInvalidInput, sha256.Size, len(ik.SHA256))
	default:
		return Key{}, fmt.Errorf("%w: give the key's plaintext or its SHA-256 digest", ErrInvalidInput)
	}
	return k, nil
}

// checkImportedPlaintext refuses what the middleware could never read or
// the Manager never verify. Its errors never hold the key.
func (m *Manager) checkImportedPlaintext(key string) error {
	if len(key) < minImportedKeyLen || len(key) > maxImportedKeyLen {
		return fmt.Errorf("%w: an imported key must be %d to %d characters", ErrInvalidInput, minImportedKeyLen, maxImportedKeyLen)
	}
	if strings.IndexFunc(key, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }) >= 0 {
		return fmt.Errorf("%w: an imported key must be printable ASCII without spaces or commas", ErrInvalidInput)
	}
	if !m.hasAcceptedShape(key) && !m.importedShape(key) {
		return fmt.Errorf("%w: the key has neither this Manager's shape nor the one WithImportedKeys accepts, so it could never be verified", ErrInvalidInput)
	}
	return nil
}

// A Rehasher can replace a key's digest with one made by another Hasher,
// so that a key imported with a SHA-256 digest moves to the Manager's
// current Hasher (say, HMAC-SHA256 with a secret) on its first use. The
// stores of this package implement it; without it, such keys keep their
// old digest and are found by it.
type Rehasher interface {
	// Rehash sets the Hash and Digest of the key with the given ID to hash
	// and digest, atomically, only if its digest is still old; otherwise
	// it returns an error wrapping ErrNotFound and changes nothing.
	Rehash(ctx context.Context, id string, old []byte, hash string, digest []byte) error
}

// rehash moves k, just verified as key under an older digest, to the
// current Hasher. A failure is logged and otherwise ignored: the key
// still verifies under its old digest, and the next use tries again.
func (m *Manager) rehash(ctx context.Context, k *Key, key string) {
	r, ok := m.store.(Rehasher)
	if !ok {
		return
	}
	err := r.Rehash(context.WithoutCancel(ctx), k.ID, k.Digest, m.hashIDs[0], m.hashers[0].Sum(nil, key))
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.logger.WarnContext(ctx, "apikey: rehashing an imported key failed; it still verifies", "key_id", k.ID, "error", err)
	}
}
