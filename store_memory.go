package apikey

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store that keeps keys in memory. It is the default for
// examples and tests, and fine for a single process whose keys may vanish on
// restart. The zero value is not usable: call NewMemoryStore.
type MemoryStore struct {
	mu       sync.RWMutex
	byID     map[string]*Key // records are never modified, only replaced
	byDigest map[string]*Key // by string(digest); the same records as byID
	ids      []string        // sorted, for List
	owners   map[string]*OwnerPolicy
}

var (
	_ UsageStore = (*MemoryStore)(nil)
	_ Rehasher   = (*MemoryStore)(nil)
	_ OwnerStore = (*MemoryStore)(nil)
)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]*Key{}, byDigest: map[string]*Key{}}
}

// Create implements Store.
func (s *MemoryStore) Create(_ context.Context, key Key) error {
	if key.ID == "" {
		return fmt.Errorf("%w: key ID is empty", ErrInvalidInput)
	}
	if len(key.Digest) == 0 {
		return fmt.Errorf("%w: key digest is empty", ErrInvalidInput)
	}
	k := key.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[k.ID]; ok {
		return fmt.Errorf("%w: ID %s", ErrDuplicate, k.ID)
	}
	if _, ok := s.byDigest[string(k.Digest)]; ok {
		return fmt.Errorf("%w: digest already stored", ErrDuplicate)
	}
	s.byID[k.ID] = &k
	s.byDigest[string(k.Digest)] = &k
	i, _ := slices.BinarySearch(s.ids, k.ID)
	s.ids = slices.Insert(s.ids, i, k.ID)
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, id string) (Key, error) {
	s.mu.RLock()
	k, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return Key{}, fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	return *k, nil
}

// FindByDigest implements Store.
func (s *MemoryStore) FindByDigest(_ context.Context, digest []byte) (Key, error) {
	s.mu.RLock()
	k, ok := s.byDigest[string(digest)]
	s.mu.RUnlock()
	if !ok {
		return Key{}, ErrNotFound
	}
	return *k, nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, opts ListOptions) ([]Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, found := slices.BinarySearch(s.ids, opts.After)
	step := 1
	switch {
	case opts.Descending && opts.After == "":
		i, step = len(s.ids)-1, -1
	case opts.Descending:
		i, step = i-1, -1 // the first ID below the cursor
	case found:
		i++
	}
	var out []Key
	for ; i >= 0 && i < len(s.ids) && len(out) < opts.Limit; i += step {
		k := s.byID[s.ids[i]]
		if opts.Owner == "" || k.Owner == opts.Owner {
			out = append(out, *k)
		}
	}
	return out, nil
}

// Update implements Store.
func (s *MemoryStore) Update(_ context.Context, id string, fn func(*Key) error) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[id]
	if !ok {
		return Key{}, fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	changed := old.Clone()
	if err := fn(&changed); err != nil {
		return Key{}, err
	}
	// Copies, so the caller's fn cannot reach into the store through
	// slices it kept.
	next := old.Updated(changed)
	s.put(&next)
	return next, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	delete(s.byID, id)
	delete(s.byDigest, string(k.Digest))
	if i, found := slices.BinarySearch(s.ids, id); found {
		s.ids = slices.Delete(s.ids, i, i+1)
	}
	return nil
}

// RecordLastUsed implements Store.
func (s *MemoryStore) RecordLastUsed(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range used {
		k, ok := s.byID[id]
		if !ok || !k.LastUsedAt.Before(t) {
			continue
		}
		next := *k
		next.LastUsedAt = t
		s.put(&next)
	}
	return nil
}

// put replaces a stored record in both indexes; its digest never changes.
func (s *MemoryStore) put(k *Key) {
	s.byID[k.ID] = k
	s.byDigest[string(k.Digest)] = k
}

// SpendUse implements UsageStore.
func (s *MemoryStore) SpendUse(_ context.Context, sp Spend) (int64, error) {
	if sp.N < 1 {
		return 0, fmt.Errorf("%w: spending %d uses", ErrInvalidInput, sp.N)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[sp.ID]
	if !ok {
		return 0, fmt.Errorf("%w: ID %s", ErrNotFound, sp.ID)
	}
	if err := spendRefusal(k, sp.N, sp.Now); err != nil || k.RemainingUses == nil {
		return -1, err
	}
	left, due, period := usesAt(k, sp.Now)
	next := *k
	left -= sp.N
	next.RemainingUses = &left
	if due {
		next.RefilledAt = period
	}
	next.UsesSpent += sp.N
	s.put(&next)
	return left, nil
}

// spendRefusal says why n uses of k may not be spent at now, or nil when
// they may (or k has no usage limit), in the order every UsageStore
// reports it.
func spendRefusal(k *Key, n int64, now time.Time) error {
	switch {
	case k.RemainingUses == nil:
		return nil
	case !k.Enabled:
		return fmt.Errorf("%w: key %s", ErrKeyDisabled, k.ID)
	case k.RotatedTo != "":
		return fmt.Errorf("%w: key %s was rotated to %s", ErrKeyExpired, k.ID, k.RotatedTo)
	case k.Expired(now):
		return fmt.Errorf("%w: key %s", ErrKeyExpired, k.ID)
	}
	if left, _, _ := usesAt(k, now); left < n {
		return fmt.Errorf("%w: key %s has %d uses left", ErrUsageExhausted, k.ID, left)
	}
	return nil
}

// Rehash implements Rehasher.
func (s *MemoryStore) Rehash(_ context.Context, id string, old []byte, hash string, digest []byte) error {
	if len(digest) == 0 {
		return fmt.Errorf("%w: key digest is empty", ErrInvalidInput)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.byID[id]
	if !ok || !bytes.Equal(k.Digest, old) {
		return fmt.Errorf("%w: ID %s with that digest", ErrNotFound, id)
	}
	if _, taken := s.byDigest[string(digest)]; taken {
		return fmt.Errorf("%w: digest already stored", ErrDuplicate)
	}
	next := *k
	next.Hash, next.Digest = hash, bytes.Clone(digest)
	delete(s.byDigest, string(old))
	s.put(&next)
	return nil
}

// findSnapshot is FindByDigest without the copy: the Manager reads the
// record the store holds, which is never modified, only replaced. It saves
// copying a whole Key on every request.
func (s *MemoryStore) findSnapshot(digest []byte) (*Key, bool) {
	s.mu.RLock()
	k, ok := s.byDigest[string(digest)]
	s.mu.RUnlock()
	return k, ok
}

// Owners implements OwnerStore.
func (s *MemoryStore) Owners(context.Context) ([]OwnerPolicy, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]OwnerPolicy, 0, len(s.owners))
	for _, p := range s.owners {
		out = append(out, p.Clone())
	}
	return out, nil
}

// PutOwner implements OwnerStore.
func (s *MemoryStore) PutOwner(_ context.Context, p OwnerPolicy) error {
	if p.Owner == "" {
		return fmt.Errorf("%w: owner is empty", ErrInvalidInput)
	}
	p = p.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]*OwnerPolicy{}
	}
	if old, ok := s.owners[p.Owner]; ok {
		p.UsesSpent = old.UsesSpent
	}
	s.owners[p.Owner] = &p
	return nil
}

// DeleteOwner implements OwnerStore.
func (s *MemoryStore) DeleteOwner(_ context.Context, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owners[owner]; !ok {
		return fmt.Errorf("%w: no policy for owner %q", ErrNotFound, owner)
	}
	delete(s.owners, owner)
	return nil
}

// SpendPooled implements OwnerStore.
func (s *MemoryStore) SpendPooled(_ context.Context, sp Spend, key bool, owner string, _ *Refill) (int64, int64, error) {
	if sp.N < 1 {
		return 0, 0, fmt.Errorf("%w: spending %d uses", ErrInvalidInput, sp.N)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keyLeft := int64(-1)
	var next *Key
	if key {
		k, ok := s.byID[sp.ID]
		if !ok {
			return 0, 0, fmt.Errorf("%w: ID %s", ErrNotFound, sp.ID)
		}
		if err := spendRefusal(k, sp.N, sp.Now); err != nil {
			return 0, 0, err
		}
		if k.RemainingUses != nil {
			left, due, period := usesAt(k, sp.Now)
			c := *k
			keyLeft = left - sp.N
			c.RemainingUses = &keyLeft
			if due {
				c.RefilledAt = period
			}
			c.UsesSpent += sp.N
			next = &c
		}
	}
	p, ok := s.owners[owner]
	if !ok || p.RemainingUses == nil {
		if next != nil {
			s.put(next)
		}
		return keyLeft, -1, nil
	}
	left, due, period := usesAt(&Key{RemainingUses: p.RemainingUses, Refill: p.Refill, RefilledAt: p.RefilledAt}, sp.Now)
	if left < sp.N {
		return 0, 0, fmt.Errorf("%w: owner %q has %d uses left", ErrUsageExhausted, owner, left)
	}
	np := p.Clone()
	left -= sp.N
	np.RemainingUses = &left
	if due {
		np.RefilledAt = period
	}
	np.UsesSpent += sp.N
	s.owners[owner] = &np
	if next != nil {
		s.put(next)
	}
	return keyLeft, left, nil
}
