package apikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOwnerKeyLimit means an owner already has as many live keys as its
// OwnerPolicy.MaxKeys allows, so Create made none.
var ErrOwnerKeyLimit = errors.New("apikey: owner has as many keys as allowed")

// OwnerPolicy is what all the keys of one owner share, so that an owner's
// five keys at 100 requests a second are 100 a second together, not 500:
// rate limits counted for all of them, uses (credits) they spend
// together, and how many live keys the owner may have. A key's own
// limits and uses apply too: a request is admitted only when the key and
// its owner both have room, and spends from both or neither. Set it with
// Manager.SetOwnerPolicy.
type OwnerPolicy struct {
	// Owner is the owner the policy is for.
	Owner string
	// RateLimits are counted for the owner's keys together; each needs a
	// name (see Key.RateLimits).
	RateLimits []RateLimit
	// RemainingUses, when not nil, are the uses the owner's keys spend
	// together; Refill gives them again every period, as for a key.
	RemainingUses *int64
	Refill        *Refill
	// RefilledAt and UsesSpent are kept by the store, as for a key.
	RefilledAt time.Time
	UsesSpent  int64
	// MaxKeys, when above zero, is how many live keys (not expired, not
	// rotated away) the owner may have: Create refuses one more with
	// ErrOwnerKeyLimit.
	MaxKeys int
	// UpdatedAt is when the policy was last set.
	UpdatedAt time.Time

	// bucket is ownerBucketID(Owner), made once for the Manager's copy.
	bucket string
}

// Clone returns a copy of p that shares nothing with it.
func (p OwnerPolicy) Clone() OwnerPolicy {
	p.RateLimits = slices.Clone(p.RateLimits)
	p.Refill, p.RemainingUses = clonePtr(p.Refill), clonePtr(p.RemainingUses)
	return p
}

// An OwnerStore keeps owner policies beside the keys. MemoryStore,
// SQLStore (in a table "<table>_owners" that Migrate creates) and
// cache.Store implement it; the Manager refuses owner policies on a store
// that does not.
type OwnerStore interface {
	// Owners returns every owner policy, in no particular order. The
	// Manager reads them all now and then (see WithOwnerRefresh): there
	// is one per owner with shared limits, not one per key.
	Owners(ctx context.Context) ([]OwnerPolicy, error)
	// PutOwner stores p, replacing the policy of p.Owner if there is one;
	// a replaced policy keeps its UsesSpent, and takes p's RefilledAt (the
	// Manager gives the start of the current period: what it sets is the
	// period's budget).
	PutOwner(ctx context.Context, p OwnerPolicy) error
	// DeleteOwner removes the policy of owner, or returns an error
	// wrapping ErrNotFound.
	DeleteOwner(ctx context.Context, owner string) error
	// SpendPooled takes s.N uses from owner's shared uses and, when key is
	// true, from the key s.ID as UsageStore.SpendUse does, in one atomic
	// step: from both or from neither. ownerRefill is the owner's Refill as
	// the caller read it, to be checked as s.Refill is. It returns what is
	// left of each (-1 for the key when key is false), or why nothing was
	// spent: the key's reasons, as SpendUse gives them, or an error
	// wrapping ErrUsageExhausted naming the owner. An owner with no
	// policy, or one without shared uses (the caller's copy was stale),
	// has none to spend: only the key's are spent, and ownerLeft is -1.
	SpendPooled(ctx context.Context, s Spend, key bool, owner string, ownerRefill *Refill) (keyLeft, ownerLeft int64, err error)
}

// DefaultOwnerRefresh is how often a Manager reads the owner policies
// again, unless WithOwnerRefresh says otherwise.
const DefaultOwnerRefresh = 10 * time.Second

// WithOwnerRefresh sets how often the Manager reads every owner policy from
// its store, in the background, from the first request that needs them
// until Close: the bound (plus one read) on how long a policy set by
// another process goes unseen here; one set through this Manager applies
// at once. The uses an owner's keys spend together are counted by the
// store, so every process that knows a policy spends from one count.
func WithOwnerRefresh(d time.Duration) Option {
	return func(m *Manager) { m.owners.every = d }
}

// owners is the Manager's copy of every owner policy: read by every
// request without a lock, replaced as a whole by a refresh. The first
// request that needs it reads it; from then on a timer reads it again
// every interval, in the background, whether requests come or not, so a
// policy another process changed decides here within the interval and one
// read, and no request waits for a refresh. (A timer that marked the copy
// stale for the next request to refresh served that request, after a
// quiet spell, on a copy of any age.)
type owners struct {
	every  time.Duration
	table  atomic.Pointer[ownerTable]
	mu     sync.Mutex // one refresh at a time; guards timer and closed
	timer  *time.Timer
	closed bool
	// capMu makes counting a capped owner's live keys and storing one
	// more a single step in this Manager (see ownerKeys).
	capMu sync.Mutex
}

type ownerTable struct {
	policies map[string]*OwnerPolicy
	loaded   time.Time // by the real clock
	err      error     // the last refresh's, when it failed
}

// ownerPolicy returns the policy of owner, or nil. The first call reads
// the policies; if they cannot be read, it returns an error, and the
// request is refused: shared budgets are never skipped because they could
// not be read, and neither are they when refreshes have failed for three
// intervals.
func (m *Manager) ownerPolicy(ctx context.Context, owner string) (*OwnerPolicy, error) {
	os := m.ownerStore
	if os == nil {
		return nil, nil
	}
	t := m.owners.table.Load()
	if t == nil {
		if err := m.refreshOwners(ctx, os); err != nil {
			return nil, unavailable("owner policies", err)
		}
		t = m.owners.table.Load()
	}
	if t.err != nil && time.Since(t.loaded) > 3*m.owners.every {
		return nil, unavailable("owner policies", t.err)
	}
	return t.policies[owner], nil
}

// refreshOwners reads every owner policy and replaces the Manager's copy,
// then sets the timer to read them again after the interval. A failed
// read keeps the copy and records the error.
func (m *Manager) refreshOwners(ctx context.Context, os OwnerStore) error {
	return m.readOwners(ctx, os, false)
}

// readOwners is refreshOwners; onTimer, it reads nothing once the Manager
// is closed, checked under the lock Close takes.
func (m *Manager) readOwners(ctx context.Context, os OwnerStore, onTimer bool) error {
	m.owners.mu.Lock()
	defer m.owners.mu.Unlock()
	if onTimer && m.owners.closed {
		return nil
	}
	list, err := os.Owners(ctx)
	if errors.Is(err, ErrNotFound) {
		list, err = nil, nil // a wrapper whose store keeps no policies
	}
	if !m.owners.closed {
		if m.owners.timer == nil {
			m.owners.timer = time.AfterFunc(m.owners.every, func() { m.refreshOwnersOnTimer(os) })
		} else {
			m.owners.timer.Reset(m.owners.every)
		}
	}
	if err != nil {
		if old := m.owners.table.Load(); old != nil {
			m.owners.table.Store(&ownerTable{policies: old.policies, loaded: old.loaded, err: err})
		}
		return err
	}
	t := &ownerTable{policies: make(map[string]*OwnerPolicy, len(list)), loaded: time.Now()}
	for _, p := range list {
		c := p.Clone()
		c.bucket = ownerBucketID(p.Owner)
		t.policies[p.Owner] = &c
	}
	m.owners.table.Store(t)
	return nil
}

// refreshOwnersOnTimer is the timer's refresh, bounded by the interval,
// and logged when it fails. After Close it reads nothing.
func (m *Manager) refreshOwnersOnTimer(os OwnerStore) {
	ctx, cancel := context.WithTimeout(context.Background(), m.owners.every)
	defer cancel()
	if err := m.readOwners(ctx, os, true); err != nil {
		m.logFailure(ctx, unavailable("owner policies", err))
	}
}

// stopOwnerRefresh stops the timer that reads the policies again: after
// Close, the copy read last stays.
func (m *Manager) stopOwnerRefresh() {
	m.owners.mu.Lock()
	defer m.owners.mu.Unlock()
	m.owners.closed = true
	if m.owners.timer != nil {
		m.owners.timer.Stop()
	}
}

// SetOwnerPolicy stores the policy of p.Owner, which must have at least
// one key, and applies it in this Manager at once (in other processes,
// within WithOwnerRefresh's interval). A policy with a Refill, new or
// replacing another, counts as refilled for the current period: its
// RemainingUses (Refill.Amount when nil) are what the owner's keys have
// until the next period starts, whatever the policy it replaces had
// spent; RemainingUses set without a Refill are the owner's uses in all. It returns an error wrapping ErrInvalidInput, naming the field,
// for a bad value, and ErrNotFound for an owner with no keys.
func (m *Manager) SetOwnerPolicy(ctx context.Context, p OwnerPolicy) (OwnerPolicy, error) {
	os, ok := m.store.(OwnerStore)
	if !ok {
		return OwnerPolicy{}, fmt.Errorf("%w: %T keeps no owner policies", ErrInvalidInput, m.store)
	}
	if err := checkOwnerPolicy(&p); err != nil {
		return OwnerPolicy{}, err
	}
	keys, err := m.store.List(ctx, ListOptions{Owner: p.Owner, Limit: 1})
	if err != nil {
		return OwnerPolicy{}, err
	}
	if len(keys) == 0 {
		return OwnerPolicy{}, fmt.Errorf("%w: owner %q has no keys; create one first", ErrNotFound, p.Owner)
	}
	now := m.clock()
	p = p.Clone()
	p.RateLimits = cleanRateLimits(p.RateLimits)
	p.UpdatedAt = now
	if p.Refill != nil {
		p.RefilledAt = p.Refill.PeriodStart(now)
		if p.RemainingUses == nil {
			n := p.Refill.Amount
			p.RemainingUses = &n
		}
	}
	if err := os.PutOwner(ctx, p); err != nil {
		return OwnerPolicy{}, err
	}
	if err := m.refreshOwners(ctx, os); err != nil {
		return OwnerPolicy{}, fmt.Errorf("%w: stored, but reading it back: %w", ErrStoreUnavailable, err)
	}
	return m.OwnerPolicy(ctx, p.Owner)
}

// OwnerPolicy returns the stored policy of owner, or an error wrapping
// ErrNotFound.
func (m *Manager) OwnerPolicy(ctx context.Context, owner string) (OwnerPolicy, error) {
	if err := checkOwnerArg(owner); err != nil {
		return OwnerPolicy{}, err
	}
	os, ok := m.store.(OwnerStore)
	if !ok {
		return OwnerPolicy{}, fmt.Errorf("%w: %T keeps no owner policies", ErrNotFound, m.store)
	}
	list, err := os.Owners(ctx)
	if err != nil {
		return OwnerPolicy{}, err
	}
	for _, p := range list {
		if p.Owner == owner {
			return p.Clone(), nil
		}
	}
	return OwnerPolicy{}, fmt.Errorf("%w: no policy for owner %q", ErrNotFound, owner)
}

// OwnerPolicies returns every stored owner policy, by owner; none on a
// store that keeps no policies.
func (m *Manager) OwnerPolicies(ctx context.Context) ([]OwnerPolicy, error) {
	os, ok := m.store.(OwnerStore)
	if !ok {
		return nil, nil
	}
	list, err := os.Owners(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]OwnerPolicy, len(list))
	for i, p := range list {
		out[i] = p.Clone()
	}
	slices.SortFunc(out, func(a, b OwnerPolicy) int { return strings.Compare(a.Owner, b.Owner) })
	return out, nil
}

// DeleteOwnerPolicy removes the policy of owner: its keys no longer share
// limits or uses. It returns an error wrapping ErrNotFound if there is none.
func (m *Manager) DeleteOwnerPolicy(ctx context.Context, owner string) error {
	if err := checkOwnerArg(owner); err != nil {
		return err
	}
	os, ok := m.store.(OwnerStore)
	if !ok {
		return fmt.Errorf("%w: %T keeps no owner policies", ErrNotFound, m.store)
	}
	if err := os.DeleteOwner(ctx, owner); err != nil {
		return err
	}
	return m.refreshOwners(ctx, os)
}

// checkOwnerArg refuses, without repeating it, an owner that looks like
// a key: one pasted there must not come back in an error.
func checkOwnerArg(owner string) error {
	if LooksLikeKey(owner) || ResemblesKey(owner) {
		return fmt.Errorf("%w: that looks like a key, not an owner", ErrNotFound)
	}
	return nil
}

// checkOwnerPolicy refuses what no store could apply, naming the field.
func checkOwnerPolicy(p *OwnerPolicy) error {
	if p.Owner == "" {
		return fmt.Errorf("%w: OwnerPolicy.Owner is required", ErrInvalidInput)
	}
	if err := checkText("owner", p.Owner, maxOwnerLen, false); err != nil {
		return err
	}
	if LooksLikeKey(p.Owner) || ResemblesKey(p.Owner) {
		return fmt.Errorf("%w: OwnerPolicy.Owner looks like a key, not an owner", ErrInvalidInput)
	}
	if err := checkRateLimits(p.RateLimits); err != nil {
		return err
	}
	if err := checkRefill(p.Refill); err != nil {
		return err
	}
	if p.RemainingUses != nil {
		if err := checkUses("OwnerPolicy.RemainingUses", *p.RemainingUses); err != nil {
			return err
		}
	}
	if p.MaxKeys < 0 {
		return fmt.Errorf("%w: OwnerPolicy.MaxKeys must not be negative", ErrInvalidInput)
	}
	return nil
}

// ownerKeys counts owner's live keys, and returns how many its policy
// allows (0: no cap). When the policy caps its keys, it returns holding
// the Manager's lock on capped owners' keys, which unlock releases: the
// caller stores the new (or revived) key before calling it, so that
// creates racing in this Manager cannot both pass the check. Two
// processes creating keys for one owner at the same moment may both
// pass: across processes the cap is checked, not locked.
func (m *Manager) ownerKeys(ctx context.Context, owner string, now time.Time) (live, max int, unlock func(), err error) {
	p, err := m.ownerPolicy(ctx, owner)
	if err != nil || p == nil || p.MaxKeys == 0 {
		return 0, 0, func() {}, err
	}
	m.owners.capMu.Lock()
	after := ""
	for {
		keys, err := m.store.List(ctx, ListOptions{Owner: owner, After: after, Limit: MaxListLimit})
		if err != nil {
			m.owners.capMu.Unlock()
			return 0, 0, func() {}, err
		}
		for _, k := range keys {
			if !k.Expired(now) && k.RotatedTo == "" {
				live++
			}
		}
		if len(keys) < MaxListLimit {
			break
		}
		after = keys[len(keys)-1].ID
	}
	return live, p.MaxKeys, m.owners.capMu.Unlock, nil
}

// ownerKeyLimit is the refusal of a key beyond owner's MaxKeys.
func ownerKeyLimit(owner string, live, max int) error {
	return fmt.Errorf("%w: owner %q has %d live keys, and may have %d", ErrOwnerKeyLimit, owner, live, max)
}

// ownerBucketID is what the rate limits of an owner's policy count under.
func ownerBucketID(owner string) string { return "owner:" + owner }
