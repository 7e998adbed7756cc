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
// Several replicas can share one [SQLStore]. Package cache puts a
// verification cache in front of any Store, so a known key costs no round
// trip, and its change feeds (packages pgfeed, pollfeed, redisfeed) tell
// every replica's cache of a key disabled, rotated or revoked elsewhere,
// within a second; its documentation gives each feed's bound.
package apikey

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
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
	// ErrConflict means the key as stored does not allow the operation:
	// it changed while the operation was under way (which may be tried
	// again), was already rotated, or fails a condition of the change
	// (EnableIfDisabledBy, LowerRemainingUses, SetExpiry on a rotated
	// key). Nothing was changed; the wrapped message says which.
	ErrConflict = errors.New("apikey: conflict")
	// ErrInvalidCredential means the service's own authenticator (see
	// WithHostAuth) refused the request's credential: a bad session, an
	// expired JWT. It is answered 401, like an invalid key.
	ErrInvalidCredential = errors.New("apikey: invalid credential")
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
	// the Manager's default (see [WithDefaultRateLimit]) when RateLimits is
	// empty too.
	RateLimit RateLimit
	// RateLimits are further limits of the key, each with its own name and
	// window (10 a second and 10,000 a day, say): a request is admitted
	// only when every limit, RateLimit included, has room for it, and a
	// refused request counts against none.
	RateLimits []RateLimit
	// AllowedIPs, when not empty, are the only client address ranges the
	// key works from (see [WithTrustedProxies] for clients behind proxies).
	AllowedIPs []netip.Prefix
	// RemainingUses, when not nil, is how many more requests the key may
	// make; once it reaches zero the key is refused with ErrUsageExhausted.
	// nil means no limit.
	RemainingUses *int64
	// Refill, when not nil, gives a usage-limited key its uses again every
	// day or month (see Refill); RefilledAt is the start of the period
	// its uses were last refilled in, or set in.
	Refill     *Refill
	RefilledAt time.Time
	// UsesSpent counts the uses the key has spent in all, refills or not,
	// so its usage can be read back.
	UsesSpent int64
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
	// Name tells the limits of a key apart ("burst", "daily"): required in
	// Key.RateLimits, where names are unique, and optional elsewhere. It
	// is reported in LimitStatus.
	Name string
	// Limit is the number of requests allowed in each window.
	Limit int
	// Window is the length of a window, at least a millisecond.
	Window time.Duration
}

// IsZero reports whether r sets no limit.
func (r RateLimit) IsZero() bool { return r.Limit == 0 && r.Window == 0 }

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
	k.RateLimits = slices.Clone(k.RateLimits)
	k.Refill, k.RemainingUses = clonePtr(k.Refill), clonePtr(k.RemainingUses)
	return k
}

// clonePtr returns a pointer to a copy of *p, or nil for nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
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
	kind     Kind
}

// Kind says how a principal was authenticated.
type Kind uint8

// The kinds of Principal.
const (
	// KindUnknown is a principal made by hand (NewContext in tests, or a
	// literal) and not by the middleware.
	KindUnknown Kind = iota
	// KindKey is a principal an API key verified: a stored key, or a
	// static key (whose KeyID starts with "static:").
	KindKey
	// KindHost is a principal the service's own authentication vouched
	// for, through WithHostAuth (a session, a JWT): it has no KeyID
	// unless the host gave it one.
	KindHost
)

// String names the kind: "unknown", "key" or "host".
func (k Kind) String() string {
	switch k {
	case KindKey:
		return "key"
	case KindHost:
		return "host"
	}
	return "unknown"
}

// Kind returns how the principal was authenticated.
func (p Principal) Kind() Kind { return p.kind }

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

// WithScopes returns a copy of p with the given scopes: for principals a
// HostAuthFunc vouches for (a user's roles, say), and in tests (see
// NewContext).
func (p Principal) WithScopes(scopes ...string) Principal {
	p.scopes = slices.Clip(slices.Clone(scopes))
	return p
}

// WithMetadata returns a copy of p with the given metadata, for principals
// a HostAuthFunc vouches for and in tests.
func (p Principal) WithMetadata(metadata map[string]string) Principal {
	p.metadata = maps.Clone(metadata)
	return p
}

// KeyState is the state of a key at a given time, for lists and displays.
type KeyState string

// The states of a key; see Key.State.
const (
	StateEnabled   KeyState = "enabled"
	StateDisabled  KeyState = "disabled"
	StateExpired   KeyState = "expired"
	StateExhausted KeyState = "exhausted"
)

// State returns whether k would be refused at now for its own state:
// disabled, expired, exhausted (no uses left), or else enabled.
func (k Key) State(now time.Time) KeyState {
	switch {
	case !k.Enabled:
		return StateDisabled
	case k.Expired(now):
		return StateExpired
	case k.RemainingUses != nil && func() bool { left, _, _ := usesAt(&k, now); return left <= 0 }():
		return StateExhausted
	}
	return StateEnabled
}
