package apikey

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"time"
)

// A KeyChange is one change for [Manager.Update], made by SetName,
// SetScopes, SetEnabled and the other Set functions, which check their
// input.
type KeyChange struct {
	apply func(*Key)
	err   error
	// check, when set, runs on the stored key before apply, inside the
	// store's atomic update; its error stores nothing.
	check func(*Key) error
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

// SetCreatedBy records in Key.CreatedBy that the holder of the key with ID
// by had this key made: package admin gives it to Manager.Rotate for the
// new key of a rotation its caller asked for.
func SetCreatedBy(by string) KeyChange {
	return KeyChange{err: checkKeyRef("created by", by), apply: func(k *Key) { k.CreatedBy = by }}
}

// checkKeyRef checks a key ID kept in another key's record: empty, or what
// a store can hold as an ID.
func checkKeyRef(field, id string) error {
	return checkText(field, id, 64, false)
}

// SetExpiry sets when a key stops working; the zero time removes the
// expiry. A time in the past expires the key at once.
func SetExpiry(t time.Time) KeyChange {
	t = t.UTC().Truncate(time.Microsecond)
	if t.IsZero() {
		t = time.Time{}
	}
	return KeyChange{apply: func(k *Key) { k.ExpiresAt = t }}
}

// SetRateLimit sets a key's own rate limit; the zero RateLimit returns it
// to the Manager's default.
func SetRateLimit(r RateLimit) KeyChange {
	r.Window = r.Window.Truncate(time.Microsecond) // what SQL stores keep
	return KeyChange{err: checkRateLimit(r), apply: func(k *Key) { k.RateLimit = r }}
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
// it from now on). Use NoUsageLimit to lift the limit.
func SetRemainingUses(n int64) KeyChange {
	var err error
	if n < 0 {
		err = fmt.Errorf("%w: negative remaining uses", ErrInvalidInput)
	}
	return KeyChange{err: err, apply: func(k *Key) { k.RemainingUses = &n }}
}

// NoUsageLimit lifts a key's usage limit.
func NoUsageLimit() KeyChange {
	return KeyChange{apply: func(k *Key) { k.RemainingUses = nil }}
}

// Update applies changes to the key with the given ID, atomically, and
// returns the stored key. Invalid changes are refused before the store is
// touched (ErrInvalidInput); an unknown ID is ErrNotFound; a change with a
// condition on the stored key (EnableIfDisabledBy) fails it with
// ErrConflict. UpdatedAt is set to now, whether or not a change differs
// from the stored value. The owner, secret and creation time of a key never change.
func (m *Manager) Update(ctx context.Context, id string, changes ...KeyChange) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	if err := checkChanges(changes); err != nil {
		return Key{}, err
	}
	now := m.clock()
	k, err := m.store.Update(ctx, id, func(k *Key) error {
		for _, c := range changes {
			if c.check != nil {
				if err := c.check(k); err != nil {
					return err
				}
			}
			c.apply(k)
		}
		k.UpdatedAt = now
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}

// checkChanges refuses a zero KeyChange and one whose input was invalid.
func checkChanges(changes []KeyChange) error {
	for _, c := range changes {
		if c.apply == nil {
			return fmt.Errorf("%w: zero KeyChange; use the Set functions", ErrInvalidInput)
		}
		if c.err != nil {
			return c.err
		}
	}
	return nil
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
	case k.RemainingUses != nil && *k.RemainingUses <= 0:
		return StateExhausted
	}
	return StateEnabled
}

// checkPrefixes refuses allowed IP ranges maskPrefixes cannot store.
func checkPrefixes(prefixes []netip.Prefix) error {
	if len(prefixes) > maxAllowedIPs {
		return fmt.Errorf("%w: at most %d allowed IP ranges", ErrInvalidInput, maxAllowedIPs)
	}
	for _, p := range prefixes {
		if _, err := normPrefix(p); err != nil {
			return fmt.Errorf("%w: AllowedIPs: %w", ErrInvalidInput, err)
		}
	}
	return nil
}

func checkMetadata(metadata map[string]string) error {
	if len(metadata) > maxMetadata {
		return fmt.Errorf("%w: at most %d metadata entries", ErrInvalidInput, maxMetadata)
	}
	for k, v := range metadata {
		if k == "" {
			return fmt.Errorf("%w: metadata key is empty", ErrInvalidInput)
		}
		if err := checkText("metadata key", k, maxMetadataKeyLen, false); err != nil {
			return err
		}
		if err := checkText("metadata value", v, maxMetadataValLen, true); err != nil {
			return err
		}
	}
	return nil
}
