package apikey

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns. Stores wrap them with detail; test with errors.Is.
var (
	// ErrNotFound means no key has the given ID or digest. Stores and the
	// Manager's methods that take a key ID return it; verification of a
	// plaintext key returns ErrUnknownKey instead.
	ErrNotFound = errors.New("apikey: key not found")
	// ErrDuplicate means a key with the same ID or digest already exists.
	ErrDuplicate = errors.New("apikey: duplicate key")
)

// Store persists key records and finds them. It decides nothing about
// validity: disabled and expired keys are stored and found like any other,
// and the [Manager] refuses them. Implementations must be safe for
// concurrent use.
//
// Keys a Store returns are snapshots: the caller must not modify their
// Scopes, Metadata or Digest. A Store must not keep references to the
// slices and maps of a Key passed to it.
//
// What a Store may assume of its input, because the Manager guarantees it:
// times are UTC with microsecond precision (what SQL columns keep); IDs and
// digests are non-empty and at most 64 bytes; strings are valid UTF-8 with
// no NUL. Stores may return empty Scopes and Metadata as nil. The
// conformance suite in package apikeytest checks every store against this
// contract.
type Store interface {
	// Create stores a new key. It returns an error wrapping ErrDuplicate when
	// a key with the same ID or digest exists.
	Create(ctx context.Context, key Key) error
	// Get returns the key with the given ID, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (Key, error)
	// FindByDigest returns the key with the given digest, or an error
	// wrapping ErrNotFound. It is on the hot path of every request: it must
	// be one indexed lookup, never a scan. It must not keep digest, whose
	// memory the caller reuses.
	FindByDigest(ctx context.Context, digest []byte) (Key, error)
	// List returns up to opts.Limit keys in ascending ID order (comparing
	// bytes, as Go strings do), only those with an ID greater than
	// opts.After, and only those of opts.Owner when it is not empty; with
	// opts.Descending, in descending order, only those with an ID smaller
	// than opts.After (any ID when it is ""). A Limit of zero or less
	// lists nothing.
	List(ctx context.Context, opts ListOptions) ([]Key, error)
	// Update applies fn to the key with the given ID and stores the result,
	// atomically: no other write to that key happens in between. It returns
	// the stored key, an error wrapping ErrNotFound, or fn's error unchanged
	// (storing nothing). Only the fields [Key.Updated] takes are stored;
	// changes fn makes to the others are ignored: a store keeps
	// old.Updated(changed). fn runs while the store holds a lock on the
	// key: it must be quick and must not call the store.
	Update(ctx context.Context, id string, fn func(*Key) error) (Key, error)
	// Delete removes the key with the given ID, or returns an error wrapping
	// ErrNotFound.
	Delete(ctx context.Context, id string) error
	// RecordLastUsed sets LastUsedAt for many keys at once, moving it only
	// forward: a key whose LastUsedAt is already at or after the given time
	// keeps it. IDs that no longer exist are ignored.
	RecordLastUsed(ctx context.Context, used map[string]time.Time) error
}

// Updated returns k with the fields a Store's Update stores taken from
// changed: Owner, Name, Description, Scopes, Metadata, Enabled, ExpiresAt,
// UpdatedAt, RateLimit, RateLimits, AllowedIPs, RemainingUses, Refill,
// RefilledAt (uses set by hand, or a new Refill, belong to the current
// period), RotatedTo, CreatedBy and DisabledBy, copied so that changed's
// slices, map and pointer are not shared. The other fields (the ID, the
// secret's digest, the creation and last-used times, and UsesSpent, which
// only SpendUse moves) keep k's values: Update never changes them.
func (k Key) Updated(changed Key) Key {
	changed = changed.Clone()
	k.Owner = changed.Owner
	k.Name = changed.Name
	k.Description = changed.Description
	k.Scopes = changed.Scopes
	k.Metadata = changed.Metadata
	k.Enabled = changed.Enabled
	k.ExpiresAt = changed.ExpiresAt
	k.UpdatedAt = changed.UpdatedAt
	k.RateLimit = changed.RateLimit
	k.RateLimits = changed.RateLimits
	k.AllowedIPs = changed.AllowedIPs
	k.RemainingUses = changed.RemainingUses
	k.Refill = changed.Refill
	k.RefilledAt = changed.RefilledAt
	k.RotatedTo = changed.RotatedTo
	k.CreatedBy = changed.CreatedBy
	k.DisabledBy = changed.DisabledBy
	return k
}

// A Spend is what a request takes from a usage-limited key, for
// UsageStore.SpendUse.
type Spend struct {
	// ID is the key's ID.
	ID string
	// N is the uses taken, 1 or more: the request's cost.
	N int64
	// Now is the time of the request: the key must not have expired by
	// then, and it names the refill period.
	Now time.Time
	// Refill is the key's Refill as the caller read it, or nil. A store
	// may use it to name the period in the statement that spends, as long
	// as it checks that the stored key has the same Refill, and spends by
	// the stored one otherwise: a caller's stale copy never refills wrongly.
	Refill *Refill
}

// A BatchStore is a Store that can store many new keys in one step.
// Manager.Import uses it, when the store implements it, to store a
// thousand keys in a few round trips and one commit instead of one each.
type BatchStore interface {
	Store
	// CreateMany stores new keys as Create stores each, all or none: on
	// an error, none of them was stored (as far as the store can tell: a
	// commit whose answer was lost may have happened). An ID or digest
	// already stored, or given twice, is an error wrapping ErrDuplicate.
	// A store that wraps another and cannot do this through it (cache.Store
	// around a plain Store) returns an error wrapping
	// errors.ErrUnsupported, having stored nothing.
	CreateMany(ctx context.Context, keys []Key) error
}

// ListOptions selects a page of keys for [Store.List] and [Manager.List].
type ListOptions struct {
	// Owner, when not empty, keeps only that owner's keys.
	Owner string
	// After is a cursor: only keys after it in the list's order are
	// listed, those with a greater ID (a smaller one when Descending).
	// Use the Next field of the previous [Page], or "" for the first page.
	After string
	// Limit is the most keys to return. Manager.List uses DefaultListLimit
	// when it is zero and caps it at MaxListLimit.
	Limit int
	// Descending lists the greatest ID first, which for the IDs this
	// package makes is the newest key first. A Store must honour it (the
	// apikeytest suite checks): Manager.List refuses a page out of order
	// rather than hand it on.
	Descending bool
}

// Limits for ListOptions.Limit in Manager.List.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// A UsageStore can spend the uses of usage-limited keys (Key.RemainingUses)
// atomically, so that N requests racing for a key with K uses left make
// exactly K succeed, across every process sharing the store. Every store in
// this package implements it; the Manager refuses usage-limited keys kept
// in a store that does not.
//
// The store, not the caller's copy of the key, is the authority on whether
// a use may be spent: a cache in another replica may still believe a key
// usable after it was disabled, rotated or expired, and its uses must not
// be spent twice, once on the old key and once on its successor.
type UsageStore interface {
	Store
	// SpendUse takes s.N uses (a request's cost) of the key with ID s.ID
	// and returns how many are left, in one atomic step that first
	// refills the key when its Refill is due at s.Now (see Refill), and
	// spends only when the stored key is enabled, not rotated (RotatedTo
	// is empty), not expired at s.Now and has s.N uses left: a key with
	// fewer spends none. It adds what it spends to UsesSpent. When it
	// takes nothing it says why: an error wrapping ErrNotFound when there
	// is no such key, ErrKeyDisabled, ErrKeyExpired (also for a rotated
	// key, whose uses moved to its successor) or ErrUsageExhausted; and -1
	// with no error when the key has no usage limit.
	SpendUse(ctx context.Context, s Spend) (remaining int64, err error)
}
