package apikey

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// NewKey describes a key to create with [Manager.Create].
type NewKey struct {
	// Owner is required: the principal the key acts for.
	Owner string
	// Name is an optional short label.
	Name string
	// Description is optional free text.
	Description string
	// Scopes are the permissions granted; duplicates are dropped.
	Scopes []string
	// Metadata is optional string data kept with the key.
	Metadata map[string]string
	// ExpiresAt is when the key stops working; zero means never. It must be
	// in the future.
	ExpiresAt time.Time
	// RateLimit, when set, caps the key's requests per window instead of
	// the Manager's default.
	RateLimit RateLimit
	// RateLimits, when set, are further named limits (see Key.RateLimits).
	RateLimits []RateLimit
	// AllowedIPs, when set, are the only client address ranges the key
	// works from. They are stored with their host bits cleared, and an
	// IPv4-mapped range as the IPv4 range it names (::ffff:192.0.2.0/120
	// as 192.0.2.0/24), since client addresses are compared unmapped (see
	// WithTrustedProxies). An invalid range, or a mapped one shorter than
	// /96, is ErrInvalidInput.
	AllowedIPs []netip.Prefix
	// MaxUses, when above zero, is how many requests the key may make in
	// all; zero means no limit. It is at most MaxRemainingUses.
	MaxUses int64
	// Refill, when set, gives the key uses (credits) again every day or
	// month (see Refill). Without MaxUses, the key starts with
	// Refill.Amount uses.
	Refill *Refill
	// CreatedBy, when set, is the ID of the key whose holder asked for this
	// one (package admin sets the caller's); it is kept as Key.CreatedBy.
	CreatedBy string
}

// Create makes a new key and stores its digest. It returns the plaintext
// key, which exists nowhere else and cannot be recovered: show it to the
// user once. The returned Key is the stored record.
func (m *Manager) Create(ctx context.Context, nk NewKey) (string, Key, error) {
	now := m.clock()
	scopes, err := checkNewKey(&nk, now)
	if err != nil {
		return "", Key{}, err
	}
	live, max, unlock, err := m.ownerKeys(ctx, nk.Owner, now)
	if err != nil {
		return "", Key{}, err
	}
	defer unlock()
	if max > 0 && live >= max {
		return "", Key{}, ownerKeyLimit(nk.Owner, live, max)
	}
	return m.issue(ctx, m.prefix, Key{
		Owner:       nk.Owner,
		Name:        nk.Name,
		Description: nk.Description,
		Scopes:      scopes,
		Metadata:    maps.Clone(nk.Metadata),
		Enabled:     true,
		ExpiresAt:   nk.ExpiresAt.UTC().Truncate(time.Microsecond),
		RateLimit:   nk.RateLimit,
		RateLimits:  cleanRateLimits(nk.RateLimits),
		AllowedIPs:  maskPrefixes(nk.AllowedIPs),
		RemainingUses: func() *int64 {
			switch {
			case nk.MaxUses > 0:
				return &nk.MaxUses
			case nk.Refill != nil:
				return &nk.Refill.Amount
			}
			return nil
		}(),
		Refill: func() *Refill {
			if nk.Refill == nil {
				return nil
			}
			r := *nk.Refill
			return &r
		}(),
		RefilledAt: func() time.Time {
			if nk.Refill == nil {
				return time.Time{}
			}
			return nk.Refill.PeriodStart(now)
		}(),
		CreatedBy: nk.CreatedBy,
	}, now)
}

// issue gives k a fresh ID, a secret with the given (valid) prefix and a
// digest, and stores it.
func (m *Manager) issue(ctx context.Context, prefix string, k Key, now time.Time) (string, Key, error) {
	plain, err := generateKey(prefix)
	if err != nil {
		return "", Key{}, err
	}
	// The ID's time part comes from the real clock, not WithClock's: a
	// test clock set in the future would otherwise pin every later ID.
	if k.ID, err = newID(time.Now()); err != nil {
		return "", Key{}, err
	}
	k.Start = keyStart(plain)
	k.Hash = m.hashers[0].ID()
	k.Digest = m.hashers[0].Sum(nil, plain)
	k.CreatedAt, k.UpdatedAt = now, now
	if err := m.store.Create(ctx, k); err != nil {
		return "", Key{}, fmt.Errorf("apikey: storing new key: %w", err)
	}
	return plain, k.Clone(), nil
}

// rotationPrefix is the prefix Rotate gives the successor of old.
func (m *Manager) rotationPrefix(old Key) string {
	p := old.Prefix()
	if p == "" || p == m.prefix || slices.Contains(m.accepted, p) {
		return m.prefix
	}
	return p
}

// Get returns the key with the given ID, or an error wrapping ErrNotFound.
func (m *Manager) Get(ctx context.Context, id string) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	k, err := m.store.Get(ctx, id)
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}

// Page is one page of keys from [Manager.List].
type Page struct {
	// Keys are copies the caller owns, in ascending ID order, or
	// descending for ListOptions.Descending.
	Keys []Key
	// Next is the cursor for the following page (ListOptions.After), or ""
	// when this is the last page.
	Next string
}

// List returns a page of keys in creation order, or newest first with
// ListOptions.Descending, optionally of one owner. A store that lists a
// page out of that order is an error, never a page.
func (m *Manager) List(ctx context.Context, opts ListOptions) (Page, error) {
	switch {
	case opts.Limit < 0:
		return Page{}, fmt.Errorf("%w: negative list limit", ErrInvalidInput)
	case opts.Limit == 0:
		opts.Limit = DefaultListLimit
	case opts.Limit > MaxListLimit:
		opts.Limit = MaxListLimit
	}
	if err := checkText("owner", opts.Owner, maxOwnerLen, false); err != nil {
		return Page{}, err
	}
	if err := checkText("cursor", opts.After, 64, false); err != nil {
		return Page{}, err
	}
	limit := opts.Limit
	opts.Limit++ // one more tells whether there is a next page
	keys, err := m.store.List(ctx, opts)
	if err != nil {
		return Page{}, err
	}
	if err := checkOrder(keys, opts); err != nil {
		return Page{}, err
	}
	var page Page
	if len(keys) > limit {
		keys = keys[:limit]
		page.Next = keys[limit-1].ID
	}
	page.Keys = make([]Key, len(keys))
	for i, k := range keys {
		page.Keys[i] = k.Clone()
	}
	return page, nil
}

// Disable refuses the key from now on, without deleting it; Enable undoes
// it. Disabling a disabled key is not an error. It is an operator's
// disable: it clears Key.DisabledBy, so no key's holder can undo it
// through package admin, even when one had disabled the key before.
func (m *Manager) Disable(ctx context.Context, id string) (Key, error) {
	return m.setEnabled(ctx, id, false)
}

// Enable lets a disabled key verify again (unless it has expired).
func (m *Manager) Enable(ctx context.Context, id string) (Key, error) {
	return m.setEnabled(ctx, id, true)
}

func (m *Manager) setEnabled(ctx context.Context, id string, enabled bool) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	k, err := m.store.Update(ctx, id, func(k *Key) error {
		if k.Enabled != enabled || k.DisabledBy != "" {
			k.Enabled = enabled
			k.DisabledBy = "" // an operator's disable, or none
			k.UpdatedAt = m.clock()
		}
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}

// Revoke deletes the key for good: it stops verifying at once and cannot be
// enabled again. It returns an error wrapping ErrNotFound if there is no
// such key.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return m.store.Delete(ctx, id)
}

// Rotate issues a new key with the same owner, name, description, scopes,
// metadata, expiry, policy and enabled state as the key with the given ID,
// and makes the old key expire after grace (at once when grace is zero,
// never later than it would have). It returns the new plaintext key, shown
// once, and the new record; the old record's RotatedTo names the new one.
//
// The new key has the Manager's prefix when the old one has it or one of
// WithAcceptedPrefixes, so rotation moves clients off a retired prefix. A
// key with any other prefix keeps it: a tool such as apikey serve, which
// manages the keys of services configured with other prefixes, must not
// hand out keys those services refuse.
//
// A key is rotated once: rotating it again, or while another process
// rotates or changes it, fails with ErrConflict and changes nothing. An
// expired key cannot be rotated (ErrKeyExpired).
//
// A usage-limited key's remaining uses move to the new key, never copied:
// they are taken from the old key under the store's lock on it, so uses
// spent while the rotation runs are counted once, and a key in steady use
// can be rotated. The old key spends nothing once rotated (see
// UsageStore), so a replica whose cache still holds it cannot spend the
// budget a second time. Such a key must therefore be rotated with no grace
// (ErrInvalidInput otherwise).
//
// changes, if any, apply to the new key's record before it is stored, so
// that it is never stored without them (package admin records who asked
// for the rotation with SetCreatedBy). They cannot set the new key's usage
// limit, which is always the old key's, with the uses moved from it.
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration, changes ...KeyChange) (string, Key, error) {
	if grace < 0 {
		return "", Key{}, fmt.Errorf("%w: negative grace period", ErrInvalidInput)
	}
	if err := checkID(id); err != nil {
		return "", Key{}, err
	}
	if err := checkChanges(changes); err != nil {
		return "", Key{}, err
	}
	for _, c := range changes {
		if c.check != nil {
			return "", Key{}, fmt.Errorf("%w: a conditional change cannot apply to a new key", ErrInvalidInput)
		}
	}
	old, err := m.store.Get(ctx, id)
	if err != nil {
		return "", Key{}, err
	}
	now := m.clock()
	limited := old.RemainingUses != nil
	switch {
	case old.Expired(now):
		return "", Key{}, fmt.Errorf("%w: key %s", ErrKeyExpired, id)
	case old.RotatedTo != "":
		return "", Key{}, fmt.Errorf("%w: key %s was already rotated to %s", ErrConflict, id, old.RotatedTo)
	case limited && grace > 0:
		return "", Key{}, fmt.Errorf("%w: key %s has a usage limit; rotate it with no grace period", ErrInvalidInput, id)
	}
	next := Key{
		Owner:       old.Owner,
		Name:        old.Name,
		Description: old.Description,
		Scopes:      slices.Clone(old.Scopes),
		Metadata:    maps.Clone(old.Metadata),
		Enabled:     old.Enabled,
		ExpiresAt:   old.ExpiresAt,
		RateLimit:   old.RateLimit,
		RateLimits:  slices.Clone(old.RateLimits),
		Refill:      old.Clone().Refill,
		RefilledAt:  old.RefilledAt,
		AllowedIPs:  slices.Clone(old.AllowedIPs),
	}
	for _, c := range changes {
		c.apply(&next)
	}
	if limited {
		// Nothing to spend until the uses move over, below; nobody holds
		// the new key before Rotate returns.
		next.RemainingUses = new(int64)
	} else {
		next.RemainingUses = nil
	}
	plain, next, err := m.issue(ctx, m.rotationPrefix(old), next, now)
	if err != nil {
		return "", Key{}, err
	}
	end := now.Add(grace).Truncate(time.Microsecond)
	var moved *int64 // the old key's uses, read under the store's lock
	_, err = m.store.Update(ctx, id, func(k *Key) error {
		// The new key copied old: if the key changed since (disabled,
		// edited, rotated elsewhere), the copy is stale and must not go
		// live. Uses spent meanwhile are no change: they move below.
		if k.RotatedTo != "" || k.Enabled != old.Enabled || !k.ExpiresAt.Equal(old.ExpiresAt) ||
			!k.UpdatedAt.Equal(old.UpdatedAt) || (k.RemainingUses != nil) != limited {
			return fmt.Errorf("%w: key %s changed while it was rotated", ErrConflict, id)
		}
		if k.ExpiresAt.IsZero() || end.Before(k.ExpiresAt) {
			k.ExpiresAt = end
		}
		if limited {
			n := *k.RemainingUses
			moved, k.RemainingUses = &n, new(int64)
		}
		k.RotatedTo = next.ID
		k.UpdatedAt = now
		return nil
	})
	if err == nil {
		m.chains.reset() // a chain that ended at id ends at next now
	}
	if err == nil && moved != nil {
		next, err = m.moveUses(ctx, id, old, next, *moved)
	}
	if err != nil {
		// The old key was not retired: take the new key back rather than
		// leave two live keys.
		if derr := m.store.Delete(context.WithoutCancel(ctx), next.ID); derr != nil {
			return "", Key{}, fmt.Errorf("apikey: rotating %s: %w (and removing the new key %s: %v)", id, err, next.ID, derr)
		}
		return "", Key{}, fmt.Errorf("apikey: rotating %s: %w", id, err)
	}
	return plain, next.Clone(), nil
}

// moveUses gives the new key of a rotation the n uses taken from the old
// one. If that fails, the old key gets its uses, expiry and successor
// back, so that no budget is lost, and the error is returned.
func (m *Manager) moveUses(ctx context.Context, id string, old, next Key, n int64) (Key, error) {
	moved, err := m.store.Update(ctx, next.ID, func(k *Key) error {
		k.RemainingUses = &n
		return nil
	})
	if err == nil {
		return moved, nil
	}
	_, rerr := m.store.Update(context.WithoutCancel(ctx), id, func(k *Key) error {
		if k.RotatedTo != next.ID {
			return fmt.Errorf("%w: key %s changed while its rotation was undone", ErrConflict, id)
		}
		k.RotatedTo, k.ExpiresAt, k.UpdatedAt = "", old.ExpiresAt, old.UpdatedAt
		k.RemainingUses = &n
		return nil
	})
	if rerr != nil {
		return next, fmt.Errorf("%w (and giving key %s its %d uses back: %v)", err, id, n, rerr)
	}
	return next, err
}

// A KeyChange is one change for [Manager.Update], made by SetName,
// SetScopes, SetEnabled and the other Set functions, which check their
// input.
type KeyChange struct {
	apply func(*Key)
	err   error
	// check, when set, runs on the stored key before apply, inside the
	// store's atomic update; its error stores nothing.
	check func(*Key) error
	// setsUses is true for a change that sets the key's remaining uses:
	// with a Refill, they are the current period's.
	setsUses bool
	// expiry is true for a change of the key's expiry, which may make an
	// expired key live again: it counts against its owner's MaxKeys.
	expiry bool
}

// SetName changes a key's name.
func SetName(name string) KeyChange {
	return KeyChange{err: checkText("name", name, maxNameLen, false), apply: func(k *Key) { k.Name = name }}
}

// SetDescription changes a key's description.
func SetDescription(description string) KeyChange {
	return KeyChange{err: checkText("description", description, maxDescriptionLen, true), apply: func(k *Key) { k.Description = description }}
}

// SetScopes replaces a key's scopes; no scopes removes them all.
func SetScopes(scopes ...string) KeyChange {
	clean, err := CleanScopes(scopes)
	return KeyChange{err: err, apply: func(k *Key) { k.Scopes = clean }}
}

// SetMetadata replaces a key's metadata; nil removes it.
func SetMetadata(metadata map[string]string) KeyChange {
	m := maps.Clone(metadata)
	return KeyChange{err: checkMetadata(m), apply: func(k *Key) { k.Metadata = m }}
}

// SetEnabled enables or disables a key. Either way it clears
// Key.DisabledBy: an enabled key has no disabler, and a disable made this
// way is an operator's, which only an admin may undo (see DisableBy).
func SetEnabled(enabled bool) KeyChange {
	return KeyChange{apply: func(k *Key) { k.Enabled, k.DisabledBy = enabled, "" }}
}

// DisableBy disables a key on behalf of the holder of the key with ID by,
// recording by in Key.DisabledBy. A key already disabled is left as it is,
// its disabler included: the first disable stands, so a key's holder
// cannot take over an operator's disable and then undo it as its own. An
// empty by is an operator's disable, as SetEnabled(false) would make for
// an enabled key.
func DisableBy(by string) KeyChange {
	return KeyChange{err: checkKeyRef("disabled by", by), apply: func(k *Key) {
		if k.Enabled {
			k.Enabled, k.DisabledBy = false, by
		}
	}}
}

// EnableIfDisabledBy enables a key that the holder of the key with ID by
// disabled (Key.DisabledBy is by), and leaves an enabled key as it is. If
// the key is disabled by anyone else, an operator included, the whole
// Update fails with ErrConflict and changes nothing: a disable made after
// the caller looked at the key stands. by must not be empty (use
// SetEnabled(true) to undo an operator's disable).
func EnableIfDisabledBy(by string) KeyChange {
	err := checkKeyRef("disabled by", by)
	if err == nil && by == "" {
		err = fmt.Errorf("%w: EnableIfDisabledBy needs the disabler's ID", ErrInvalidInput)
	}
	return KeyChange{err: err,
		check: func(k *Key) error {
			if !k.Enabled && k.DisabledBy != by {
				return fmt.Errorf("%w: key %s was disabled by someone else", ErrConflict, k.ID)
			}
			return nil
		},
		apply: func(k *Key) { k.Enabled, k.DisabledBy = true, "" },
	}
}

// IfUnchangedSince makes the whole Update fail with ErrConflict, changing
// nothing, unless the stored key's UpdatedAt is still updatedAt: no other
// change was stored since the caller read the key. Uses spent meanwhile
// are no change. It is for a caller that judged its changes on the key as
// it read it (package admin, bounding a key without the admin scope): two
// changes each allowed on that key may not be allowed together.
func IfUnchangedSince(updatedAt time.Time) KeyChange {
	return KeyChange{
		check: func(k *Key) error {
			if !k.UpdatedAt.Equal(updatedAt) {
				return fmt.Errorf("%w: key %s changed since it was read; read it again", ErrConflict, k.ID)
			}
			return nil
		},
		apply: func(*Key) {},
	}
}

// SetCreatedBy records in Key.CreatedBy that the holder of the key with ID
// by had this key made: package admin gives it to Manager.Rotate for the
// new key of a rotation its caller asked for.
func SetCreatedBy(by string) KeyChange {
	return KeyChange{err: checkKeyRef("created by", by), apply: func(k *Key) { k.CreatedBy = by }}
}

// SetExpiry sets when a key stops working; the zero time removes the
// expiry. A time in the past expires the key at once.
//
// A rotated key's expiry ends its grace period, so for a key with
// RotatedTo set the time may only come earlier: a later one, or none,
// fails the whole Update with ErrConflict, checked on the stored key in
// the same atomic step. Otherwise a retired key, perhaps the leaked one
// the rotation was for, would work again; extend the successor instead.
func SetExpiry(t time.Time) KeyChange {
	t = t.UTC().Truncate(time.Microsecond)
	if t.IsZero() {
		t = time.Time{}
	}
	return KeyChange{
		expiry: true,
		check: func(k *Key) error {
			if k.RotatedTo != "" && (t.IsZero() || t.After(k.ExpiresAt)) {
				return fmt.Errorf("%w: key %s was rotated to %s, and its expiry ends its grace period: it may come earlier, not later; change %s instead",
					ErrConflict, k.ID, k.RotatedTo, k.RotatedTo)
			}
			return nil
		},
		apply: func(k *Key) { k.ExpiresAt = t },
	}
}

// SetRateLimit sets a key's own rate limit; the zero RateLimit returns it
// to the Manager's default.
func SetRateLimit(r RateLimit) KeyChange {
	r.Window = r.Window.Truncate(time.Microsecond) // what SQL stores keep
	return KeyChange{err: checkRateLimit(r), apply: func(k *Key) { k.RateLimit = r }}
}

// SetRateLimits replaces a key's named limits (see Key.RateLimits); none
// removes them.
func SetRateLimits(limits ...RateLimit) KeyChange {
	clean := cleanRateLimits(limits)
	return KeyChange{err: checkRateLimits(limits), apply: func(k *Key) { k.RateLimits = clean }}
}

// SetAllowedIPs sets the client address ranges a key works from; none
// removes the restriction. The ranges are checked and stored as for
// NewKey.AllowedIPs.
func SetAllowedIPs(prefixes ...netip.Prefix) KeyChange {
	err := checkPrefixes(prefixes)
	masked := maskPrefixes(prefixes)
	return KeyChange{err: err, apply: func(k *Key) { k.AllowedIPs = masked }}
}

// SetRemainingUses gives a key n more uses in all (n >= 0; zero refuses
// it from now on); for a key with a Refill, n uses until the next period
// starts. Use NoUsageLimit to lift the limit.
func SetRemainingUses(n int64) KeyChange {
	err := checkUses("remaining uses", n)
	return KeyChange{err: err, setsUses: true, apply: func(k *Key) { k.RemainingUses = &n }}
}

// LowerRemainingUses sets a key's remaining uses to n (n >= 0) only if that
// gives it no more than it has when the change is applied; otherwise the
// whole Update fails with ErrConflict and changes nothing. A key without a
// usage limit gets one. It is for a holder changing its own key's count
// (package admin uses it for a key without the admin scope): uses it
// spends between reading the count and writing it must not come back.
func LowerRemainingUses(n int64) KeyChange {
	err := checkUses("remaining uses", n)
	return KeyChange{err: err, setsUses: true,
		check: func(k *Key) error {
			if k.RemainingUses != nil && *k.RemainingUses < n {
				return fmt.Errorf("%w: key %s has only %d uses left", ErrConflict, k.ID, *k.RemainingUses)
			}
			return nil
		},
		apply: func(k *Key) { k.RemainingUses = &n },
	}
}

// SetRefill sets how a key's uses are refilled (see Refill); nil stops
// refills. A key without a usage limit gets one of Refill.Amount uses. A
// new Refill counts from the current period: the key keeps the uses it
// has (or those set in the same Update) until the next period starts.
func SetRefill(r *Refill) KeyChange {
	clean := clonePtr(r)
	return KeyChange{err: checkRefill(r), apply: func(k *Key) {
		k.Refill = clean
		if clean != nil && k.RemainingUses == nil {
			n := clean.Amount
			k.RemainingUses = &n
		}
	}}
}

// NoUsageLimit lifts a key's usage limit, and stops its refills.
func NoUsageLimit() KeyChange {
	return KeyChange{apply: func(k *Key) { k.RemainingUses, k.Refill = nil, nil }}
}

// checkOrder returns an error unless keys are in opts' order and after its
// cursor: a page out of order (a Store that ignores Descending, say)
// would make a cursor that skips keys or never ends.
func checkOrder(keys []Key, opts ListOptions) error {
	prev := opts.After
	for i, k := range keys {
		if i > 0 || prev != "" {
			if opts.Descending && k.ID >= prev || !opts.Descending && k.ID <= prev {
				return fmt.Errorf("apikey: the store listed key %s out of order after %s (descending: %t)", k.ID, prev, opts.Descending)
			}
		}
		prev = k.ID
	}
	return nil
}

// Update applies changes to the key with the given ID, atomically, and
// returns the stored key. Invalid changes are refused before the store is
// touched (ErrInvalidInput); an unknown ID is ErrNotFound; a change with a
// condition on the stored key (EnableIfDisabledBy) fails it with
// ErrConflict. UpdatedAt is set to now, whether or not a change differs
// from the stored value. The owner, secret and creation time of a key never change.
//
// An expiry that makes an expired key live again counts as a new key
// against its owner's OwnerPolicy.MaxKeys: when the owner has as many
// live keys as allowed, the Update fails with ErrOwnerKeyLimit.
func (m *Manager) Update(ctx context.Context, id string, changes ...KeyChange) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	if err := checkChanges(changes); err != nil {
		return Key{}, err
	}
	now := m.clock()
	live, max := 0, 0
	if slices.ContainsFunc(changes, func(c KeyChange) bool { return c.expiry }) {
		old, err := m.store.Get(ctx, id)
		if err != nil {
			return Key{}, err
		}
		var unlock func()
		if live, max, unlock, err = m.ownerKeys(ctx, old.Owner, now); err != nil {
			return Key{}, err
		}
		defer unlock()
	}
	k, err := m.store.Update(ctx, id, func(k *Key) error {
		wasLive := !k.Expired(now) && k.RotatedTo == ""
		var before Refill
		if k.Refill != nil {
			before = *k.Refill
		}
		setsUses := false
		for _, c := range changes {
			if c.check != nil {
				if err := c.check(k); err != nil {
					return err
				}
			}
			c.apply(k)
			setsUses = setsUses || c.setsUses
		}
		if max > 0 && !wasLive && !k.Expired(now) && k.RotatedTo == "" && live >= max {
			return ownerKeyLimit(k.Owner, live, max)
		}
		// Uses set now, or a new Refill, are the current period's: the
		// next request must not refill them as if a period had passed.
		if k.Refill != nil && (setsUses || *k.Refill != before) {
			k.RefilledAt = k.Refill.PeriodStart(now)
		}
		k.UpdatedAt = now
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}
