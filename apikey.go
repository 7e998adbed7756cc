// Package apikey adds API key authentication to net/http services.
//
// A [Manager] creates, verifies, disables, rotates and revokes keys kept in a
// [Store]; its [Manager.Middleware] checks the key on every request and puts
// the owning [Principal] on the request context, where [FromContext] reads it.
//
// Keys look like "ak_" followed by 30 random base62 characters and a 6
// character checksum (for example ak_4qGZ…). They are generated from
// crypto/rand with about 178 bits of entropy. The plaintext is returned once,
// by [Manager.Create] and [Manager.Rotate]; stores keep only a digest of it
// (see [Hasher]) and a short non-secret [Key.Start] for display.
//
// # Replicas and revocation
//
// Several replicas can share one [SQLStore], each with a [CachedStore] in
// front of it so a known key costs no round trip. How long a key disabled,
// rotated or revoked on one replica may still verify on another depends on
// the change feed the caches follow ([WithFeed]):
//
//	feed                               bound                           writers heard
//	pgfeed (PostgreSQL LISTEN/NOTIFY)  under a second on one network   every writer, manual SQL too
//	pollfeed (any SQLStore)            the poll interval (1 s)         every writer, manual SQL too
//	redisfeed (Redis pub/sub)          under a second on one network   CachedStores with the feed
//	none                               the cache TTL (10 s)            -
//
// Once a cache notices its feed is down, it keeps entries for the fallback
// TTL at most (1 s, [WithFallbackTTL]), and starts afresh when the feed is
// back; see [Feed].
package apikey

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors returned by verification. Every refusal carries exactly one of them,
// so hooks and logs can tell why a request failed with errors.Is, while the
// client sees only what the error handler chooses to show.
var (
	// ErrMissingKey means the request carried no API key in any enabled source.
	ErrMissingKey = errors.New("apikey: missing API key")
	// ErrMalformedKey means the key has the wrong shape, prefix or checksum,
	// or is too long. It is detected without asking the store.
	ErrMalformedKey = errors.New("apikey: malformed API key")
	// ErrConflictingKeys means the request carried two different keys, for
	// example one in X-API-Key and another in Authorization.
	ErrConflictingKeys = errors.New("apikey: conflicting API keys in request")
	// ErrUnknownKey means the key is well formed but no store holds it (it
	// was never issued, or it was revoked). Verification returns it; the
	// Manager's methods that take a key ID return ErrNotFound instead.
	ErrUnknownKey = errors.New("apikey: unknown API key")
	// ErrKeyDisabled means the key exists but is disabled.
	ErrKeyDisabled = errors.New("apikey: API key disabled")
	// ErrKeyExpired means the key exists but its expiry time has passed.
	ErrKeyExpired = errors.New("apikey: API key expired")
	// ErrInsufficientScope means the key is valid but lacks a scope the route
	// requires (see [RequireScopes]).
	ErrInsufficientScope = errors.New("apikey: insufficient scope")
	// ErrStoreUnavailable means the store failed while verifying a key. The
	// store's own error is wrapped beside it. Requests are refused (fail
	// closed), with 503 by default.
	ErrStoreUnavailable = errors.New("apikey: key store unavailable")
	// ErrIPNotAllowed means the key is valid but the client address is
	// outside its AllowedIPs (403 by default).
	ErrIPNotAllowed = errors.New("apikey: client address not allowed for this key")
	// ErrRateLimited means the key made more requests than its rate limit
	// allows in the current window (429 by default). The error is a
	// *RateLimitError with the limit's state.
	ErrRateLimited = errors.New("apikey: rate limit exceeded")
	// ErrUsageExhausted means a usage-limited key has no uses left.
	ErrUsageExhausted = errors.New("apikey: API key usage limit reached")
	// ErrKeyTooOld means the key is older than the hard maximum lifetime
	// (see [WithMaxKeyAge]).
	ErrKeyTooOld = errors.New("apikey: API key older than its maximum lifetime")
	// ErrConflict means a key changed while an operation on it was under
	// way, or was already rotated; nothing was changed, and the operation
	// may be tried again.
	ErrConflict = errors.New("apikey: key changed concurrently")
	// ErrInvalidInput means an argument to a Manager method was invalid, for
	// example an empty owner or a scope with spaces. The wrapped message says
	// which.
	ErrInvalidInput = errors.New("apikey: invalid input")
)

// Key is the stored record of an API key. It never holds the plaintext key.
//
// Keys returned by a [Store] are snapshots the caller must treat as read-only
// (their Scopes and Metadata may be shared with the store); keys returned by
// [Manager] methods are copies the caller owns.
type Key struct {
	// ID identifies the key publicly and never changes. It is random and
	// independent of the secret, and sorts in creation order.
	ID string
	// Owner is the principal the key acts for, such as a user or account ID.
	Owner string
	// Name is a short human label, such as "ci" or "partner backend".
	Name string
	// Description is free text.
	Description string
	// Scopes are the permissions the key grants (see [RequireScopes]).
	Scopes []string
	// Metadata is arbitrary string data attached to the key.
	Metadata map[string]string
	// Start is the key's prefix and first characters of its secret, such as
	// "ak_4qGZ": enough to recognise it in a list, useless to an attacker.
	Start string
	// Hash names the [Hasher] that produced Digest (its ID).
	Hash string
	// Digest is the hash of the plaintext key under Hash.
	Digest []byte
	// Enabled is false for a disabled key, which is refused until enabled.
	Enabled bool
	// CreatedAt is when the key was created.
	CreatedAt time.Time
	// UpdatedAt is when the key was last changed by the Manager.
	UpdatedAt time.Time
	// ExpiresAt is when the key stops working; the zero time means never.
	ExpiresAt time.Time
	// LastUsedAt is the last successful verification as last flushed to the
	// store (see [WithLastUsedInterval]); the zero time means never.
	LastUsedAt time.Time
	// RateLimit caps the requests made with the key; the zero value means
	// the Manager's default (see [WithDefaultRateLimit]).
	RateLimit RateLimit
	// AllowedIPs, when not empty, are the only client address ranges the
	// key works from (see [WithTrustedProxies] for clients behind proxies).
	AllowedIPs []netip.Prefix
	// RemainingUses, when not nil, is how many more requests the key may
	// make; once it reaches zero the key is refused with ErrUsageExhausted.
	// nil means no limit.
	RemainingUses *int64
	// RotatedTo is the ID of the key that replaced this one in a rotation
	// (see [Manager.Rotate]), or "" if it was never rotated.
	RotatedTo string
	// CreatedBy is the ID of the key whose holder had this key made, by
	// creating it or by rotating another key into it (see
	// [NewKey.CreatedBy] and [SetCreatedBy]; package admin records it), or
	// "" for a key an operator made. It lets the keys a leaked key made be
	// found and disabled with it; it plays no part in verification.
	CreatedBy string
	// DisabledBy is, for a key disabled with [DisableBy], the ID of the key
	// whose holder disabled it (package admin records it), and "" for an
	// enabled key or one an operator disabled ([Manager.Disable],
	// [SetEnabled]). Package admin lets a key's owner undo only its own
	// disables; it plays no part in verification.
	DisabledBy string
}

// RateLimit is a number of requests allowed per window of time, counted in
// fixed windows (see [Limiter]).
type RateLimit struct {
	// Limit is the number of requests allowed in each window.
	Limit int
	// Window is the length of a window, at least a millisecond.
	Window time.Duration
}

// IsZero reports whether r sets no limit.
func (r RateLimit) IsZero() bool { return r.Limit == 0 && r.Window == 0 }

// checkRateLimit refuses a half-set or negative limit.
func checkRateLimit(r RateLimit) error {
	if r.IsZero() {
		return nil
	}
	if r.Limit <= 0 || r.Window < time.Millisecond {
		return fmt.Errorf("%w: a rate limit needs a positive limit and a window of at least 1ms", ErrInvalidInput)
	}
	return nil
}

// Expired reports whether the key has an expiry time at or before now.
func (k Key) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Prefix returns the prefix the key was issued with, read from its Start
// ("sk_live" for "sk_live_4qGZ"), or "" when Start holds no valid prefix.
func (k Key) Prefix() string {
	i := strings.LastIndexByte(k.Start, '_')
	if i < 0 || ValidatePrefix(k.Start[:i]) != nil {
		return ""
	}
	return k.Start[:i]
}

// Clone returns a deep copy of k.
func (k Key) Clone() Key {
	k.Scopes = slices.Clone(k.Scopes)
	k.Metadata = maps.Clone(k.Metadata)
	k.Digest = slices.Clone(k.Digest)
	k.AllowedIPs = slices.Clone(k.AllowedIPs)
	if k.RemainingUses != nil {
		n := *k.RemainingUses
		k.RemainingUses = &n
	}
	return k
}

// Principal is who a verified request acts for: the key and its owner.
//
// Its scopes and metadata are read through methods that return copies:
// the Principal of a request shares them with the verification cache and
// the other requests made with the same key, so handing out the slice or
// map itself would let one handler's write corrupt them all.
type Principal struct {
	// KeyID is the ID of the key used, or "static:…" for a static key.
	KeyID string
	// Owner is who the key acts for.
	Owner string
	// Name is the key's label.
	Name string

	scopes   []string
	metadata map[string]string
}

// Scopes returns a copy of the principal's scopes.
func (p Principal) Scopes() []string { return slices.Clone(p.scopes) }

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool {
	return slices.Contains(p.scopes, scope)
}

// Metadata returns a copy of the key's metadata.
func (p Principal) Metadata() map[string]string { return maps.Clone(p.metadata) }

// MetadataValue returns one metadata value of the key.
func (p Principal) MetadataValue(name string) (string, bool) {
	v, ok := p.metadata[name]
	return v, ok
}

// WithScopes returns a copy of p with the given scopes, for building
// principals in tests (see NewContext).
func (p Principal) WithScopes(scopes ...string) Principal {
	p.scopes = slices.Clip(slices.Clone(scopes))
	return p
}

// WithMetadata returns a copy of p with the given metadata, for tests.
func (p Principal) WithMetadata(metadata map[string]string) Principal {
	p.metadata = maps.Clone(metadata)
	return p
}

func principalOf(k *Key) Principal {
	return Principal{KeyID: k.ID, Owner: k.Owner, Name: k.Name, scopes: k.Scopes, metadata: k.Metadata}
}

// authInfo is what the middleware puts on the request context: the
// principal and the error handler that RequireScopes should answer with.
type authInfo struct {
	principal Principal
	onError   ErrorHandler
	// manager and match let a nested middleware of the same Manager see
	// that this request's key was already verified, and not count it again
	// against its rate limit or uses. The context never holds the key
	// itself: a handler that prints it, or a stripped request, must not
	// reveal it.
	manager *Manager
	match   keyMatch
	// source is where the middleware read the key.
	source Source
}

type contextKey struct{}

// authContext is a context carrying an authInfo. It does what
// context.WithValue would, in one allocation instead of two (the value and
// the context node): this is on the path of every request.
type authContext struct {
	context.Context
	info authInfo
	// digest is where the middleware has the key's digest computed, sparing
	// it an allocation of its own.
	digest [32]byte
}

// Value returns the authInfo for contextKey and asks the parent for
// anything else, as a context.WithValue node does.
func (c *authContext) Value(key any) any {
	if key == (contextKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

func (c *authContext) String() string { return "apikey.authContext" }

// withAuth returns ctx carrying info.
func withAuth(ctx context.Context, info authInfo) context.Context {
	return &authContext{Context: ctx, info: info}
}

// FromContext returns the principal that the middleware verified for this
// request, and false when there is none (no middleware, or a skipped route).
func FromContext(ctx context.Context) (Principal, bool) {
	info, ok := ctx.Value(contextKey{}).(*authInfo)
	if !ok {
		return Principal{}, false
	}
	return info.principal, true
}

// SourceFromContext returns the source the middleware read the request's
// key from, and false when the context has no principal verified by the
// middleware (none at all, or one put there by [NewContext]). When the same
// key came in several places, a query source wins over the others: a
// handler that refuses keys sent in URLs, which leak into logs, sees it.
func SourceFromContext(ctx context.Context) (Source, bool) {
	info := infoFromContext(ctx)
	if info == nil || info.source.kind == 0 {
		return Source{}, false
	}
	return info.source, true
}

// NewContext returns a copy of ctx carrying p, as the middleware does. It is
// meant for tests of handlers that call [FromContext].
func NewContext(ctx context.Context, p Principal) context.Context {
	return withAuth(ctx, authInfo{principal: p})
}

func infoFromContext(ctx context.Context) *authInfo {
	info, _ := ctx.Value(contextKey{}).(*authInfo)
	return info
}

// Key format: <prefix>_<secret><checksum>, where secret is secretLen base62
// characters and checksum is the CRC-32 (IEEE) of "<prefix>_<secret>" as
// checksumLen base62 digits, zero padded. Base62 has no '_', so the last '_'
// always separates the prefix from the body.
const (
	secretLen   = 30 // 30 * log2(62) ≈ 178 bits
	checksumLen = 6  // 62^6 > 2^32
	bodyLen     = secretLen + checksumLen
	startLen    = 4 // secret characters kept in Key.Start
	// MaxPrefixLen is the longest prefix WithPrefix accepts.
	MaxPrefixLen = 32
	// maxKeyLen bounds every key this package can issue; longer input is
	// refused before any hashing.
	maxKeyLen = MaxPrefixLen + 1 + bodyLen
)

// idGenerator remembers the last ID it issued, so it can keep IDs
// increasing.
type idGenerator struct {
	mu   sync.Mutex
	ms   uint64
	last [16]byte
	set  bool
}

// ids issues every key ID in this process.
var ids idGenerator

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// DefaultPrefix is the key prefix used when no WithPrefix option is given.
const DefaultPrefix = "ak"

// ValidatePrefix reports whether prefix can be used for keys: 1 to
// MaxPrefixLen ASCII letters, digits and underscores, starting with a letter
// and not ending with an underscore (for example "ak", "lbk", "sk_live").
func ValidatePrefix(prefix string) error {
	if len(prefix) == 0 || len(prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: prefix must be 1 to %d characters", ErrInvalidInput, MaxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case (c >= '0' && c <= '9' || c == '_') && i > 0:
		default:
			return fmt.Errorf("%w: prefix %q must start with a letter and hold only letters, digits and '_'", ErrInvalidInput, prefix)
		}
	}
	if prefix[len(prefix)-1] == '_' {
		return fmt.Errorf("%w: prefix %q must not end with '_'", ErrInvalidInput, prefix)
	}
	return nil
}

// generateKey returns a new plaintext key with the given (valid) prefix.
func generateKey(prefix string) (string, error) {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + bodyLen)
	b.WriteString(prefix)
	b.WriteByte('_')
	var buf [64]byte
	n := 0
	for n < secretLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("apikey: reading random bytes: %w", err)
		}
		for _, c := range buf {
			// Rejection sampling keeps every character equally likely:
			// 248 = 4*62, so c%62 is uniform for c < 248.
			if c >= 248 {
				continue
			}
			b.WriteByte(base62[c%62])
			if n++; n == secretLen {
				break
			}
		}
	}
	appendChecksum(&b, checksum(b.String()))
	return b.String(), nil
}

func appendChecksum(b *strings.Builder, sum uint32) {
	var digits [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		digits[i] = base62[sum%62]
		sum /= 62
	}
	b.Write(digits[:])
}

// checksum is CRC-32 (IEEE) of s, the checksum GitHub's tokens carry. It
// works on the string directly, eight bytes a step (slicing-by-8), so the
// hot path neither allocates nor walks the input byte by byte.
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcTables[0][s[7]] ^ crcTables[1][s[6]] ^ crcTables[2][s[5]] ^ crcTables[3][s[4]] ^
			crcTables[4][crc>>24] ^ crcTables[5][(crc>>16)&0xFF] ^ crcTables[6][(crc>>8)&0xFF] ^ crcTables[7][crc&0xFF]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTables[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// crcTables[k][b] is the CRC of byte b followed by k zero bytes.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xFF] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// base62Values maps each byte to its base62 value, or -1.
var base62Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(base62) {
		t[base62[i]] = int8(i)
	}
	return t
}()

// ParseKey checks the shape of a plaintext key: its prefix, its characters
// and its checksum, without asking any store. It returns the key's prefix,
// or an error wrapping ErrMalformedKey. A key that parses may still be
// unknown, disabled or expired; only [Manager.Verify] can tell.
func ParseKey(key string) (prefix string, err error) {
	if len(key) > maxKeyLen || len(key) < 2+bodyLen {
		return "", ErrMalformedKey
	}
	sep := len(key) - bodyLen - 1
	prefix = key[:sep]
	if key[sep] != '_' || ValidatePrefix(prefix) != nil || !validBody(key, sep) {
		return "", ErrMalformedKey
	}
	return prefix, nil
}

// LooksLikeKey reports whether s holds a key: an underscore followed by 36
// base62 characters whose last 6 are the checksum of what comes before
// them, from some start at most MaxPrefixLen bytes before the underscore.
// Unlike ParseKey it takes any prefix, even one ValidatePrefix refuses
// (9x_…, sk-live_…), and finds a key with text around it (a pasted
// newline, "Bearer " in front), since each of those still carries the
// secret. A string without a key passes by chance with odds of about one
// in 2^32 per underscore.
//
// It is for code that prints what it was given where an ID, a name or a
// path belongs: a person who pastes a key there must not see it echoed in
// an error, a log line or a response. Say that the value looks like a key,
// as the Manager's methods that take an ID do, and print nothing of it.
func LooksLikeKey(s string) bool {
	for sep := 0; sep+bodyLen < len(s); sep++ {
		if s[sep] != '_' || !validBase62(s[sep+1:sep+1+bodyLen]) {
			continue
		}
		end := sep + 1 + bodyLen
		for start := max(0, sep-MaxPrefixLen); start <= sep; start++ {
			if validBody(s[start:end], sep-start) {
				return true
			}
		}
	}
	return false
}

// mostlyKey reports whether s holds most of a key, with or without its
// checksum: an underscore followed by 30 or more base62 characters (a
// prefix's separator and at least a secret's length), or 36 base62
// characters in a row (a key's body without its prefix). A key with a
// character mistyped, dropped or added passes, though LooksLikeKey does
// not: it still carries most of a secret. Key IDs (26 characters, no
// underscore) never pass, but paths and free text may, so this is only
// for values that must be IDs.
func mostlyKey(s string) bool {
	run := 0 // base62 characters in a row, ending at s[i]
	for i := 0; i < len(s); i++ {
		if base62Values[s[i]] < 0 {
			run = 0
			continue
		}
		run++
		if run >= bodyLen || run >= secretLen && i >= run && s[i-run] == '_' {
			return true
		}
	}
	return false
}

func validBase62(s string) bool {
	for _, c := range []byte(s) {
		if base62Values[c] < 0 {
			return false
		}
	}
	return true
}

// hasValidShape is ParseKey for a known, valid prefix: what Verify runs on
// every request.
func hasValidShape(key, prefix string) bool {
	sep := len(prefix)
	return len(key) == sep+1+bodyLen && key[sep] == '_' && key[:sep] == prefix && validBody(key, sep)
}

// validBody reports whether key[sep+1:] is base62 and ends with the
// checksum of key[:len(key)-checksumLen].
func validBody(key string, sep int) bool {
	if len(key) < sep+1+bodyLen {
		return false
	}
	end := len(key) - checksumLen
	// OR the table values together: any -1 sets the sign bit. No branch per
	// character; this runs on every request.
	var bad int8
	for _, c := range []byte(key[sep+1 : end]) {
		bad |= base62Values[c]
	}
	if bad < 0 {
		return false
	}
	var sum uint64
	for _, c := range []byte(key[end:]) {
		v := base62Values[c]
		if v < 0 {
			return false
		}
		sum = sum*62 + uint64(v)
	}
	return sum <= 0xFFFFFFFF && uint32(sum) == checksum(key[:end])
}

// keyStart is the display form of a key: its prefix and a few characters.
func keyStart(key string) string {
	sep := len(key) - bodyLen - 1
	return key[:sep+1+startLen]
}

// newID returns a 26 character ID: 48 bits of milliseconds since the Unix
// epoch and 80 random bits, in Crockford base32 (the ULID layout), so IDs
// sort in creation order and reveal nothing about the secret. Within one
// process IDs strictly increase: in the same millisecond (or if the clock
// steps back) the random part of the last ID is incremented instead.
func newID(now time.Time) (string, error) { return ids.next(now) }

func (ids *idGenerator) next(now time.Time) (string, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	var raw [16]byte
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	if ms <= ids.ms && ids.set {
		ms = ids.ms
		raw = ids.last
		// Increment the 80-bit random tail; carrying out of it would wrap
		// into the time, which 2^80 IDs in one millisecond never reach.
		for i := 15; i >= 6; i-- {
			if raw[i]++; raw[i] != 0 {
				break
			}
		}
	} else {
		binary.BigEndian.PutUint64(raw[:8], ms<<16)
		if _, err := rand.Read(raw[6:]); err != nil {
			return "", fmt.Errorf("apikey: reading random bytes: %w", err)
		}
	}
	ids.ms, ids.last, ids.set = ms, raw, true
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 128 bits as 26 base32 digits: the first digit holds the top 3 bits.
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:]), nil
}
