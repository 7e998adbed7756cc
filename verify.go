package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Verify checks a plaintext key and returns the principal it acts for. It
// refuses a malformed key (ErrMalformedKey) without asking the store; an
// unknown, disabled or expired key costs the same work, one digest and one
// store lookup, and fails with ErrUnknownKey, ErrKeyDisabled or
// ErrKeyExpired. With several Hashers (WithHashers), lookups stop at the
// first that finds the key, so an unknown key costs one per Hasher; a
// usage-limited key costs a second round trip, to spend the use. It then applies the key's policy: its
// maximum age, rate limit (ErrRateLimited) and remaining uses
// (ErrUsageExhausted). A store or limiter failure is reported as
// ErrStoreUnavailable wrapping the cause, never as an invalid key.
//
// Verify knows no client address, so it refuses keys with AllowedIPs
// (ErrIPNotAllowed); use VerifyFrom for those.
func (m *Manager) Verify(ctx context.Context, key string) (Principal, error) {
	p, _, err := m.verify(ctx, key, nil, nil, nil, 1)
	return p, err
}

// VerifyFrom is Verify for a request from the client address client, which
// keys with AllowedIPs are checked against. The address is compared as
// the middleware compares a peer's: an IPv4-mapped address as the IPv4
// address it carries, and without its zone.
func (m *Manager) VerifyFrom(ctx context.Context, key string, client netip.Addr) (Principal, error) {
	p, _, err := m.verify(ctx, key, knownAddr(client), nil, nil, 1)
	return p, err
}

// VerifyWithStatus is VerifyFrom that also returns, for an allowed
// request, the state of the key's rate limit closest to refusal, as the
// middleware reports it in RateLimit headers (LimitStatus.Limit is 0 for
// a key with no limit). Code that answers requests itself, such as an
// adapter for another framework, passes it to SetRateLimitHeaders; a
// refusal over a limit carries its state in the error (SetRetryHeaders).
func (m *Manager) VerifyWithStatus(ctx context.Context, key string, client netip.Addr) (Principal, LimitStatus, error) {
	p, st, err := m.verify(ctx, key, knownAddr(client), nil, nil, 1)
	if err != nil {
		return p, LimitStatus{}, err
	}
	return p, st, nil
}

// verify is the one decision path, shared by Verify, VerifyFrom and the
// middleware. It returns the rate-limit state for keys that have a limit.
// Digests are computed into buf when it is large enough (the middleware
// lends space in an allocation it makes anyway); match, when not nil, learns
// which digest found the key.
func (m *Manager) verify(ctx context.Context, key string, client *clientAddr, buf []byte, match *keyMatch, cost int) (Principal, LimitStatus, error) {
	if m.observe == nil {
		p, st, err := m.decide(ctx, key, client, buf, match, cost)
		if err != nil {
			m.logFailure(ctx, err)
			return Principal{}, st, err
		}
		return p, st, nil
	}
	start := time.Now()
	p, st, err := m.decide(ctx, key, client, buf, match, cost)
	m.observe(ctx, Event{KeyID: p.KeyID, Owner: p.Owner, Err: err, ClientIP: client.get(), Latency: time.Since(start)})
	if err != nil {
		m.logFailure(ctx, err)
		return Principal{}, st, err
	}
	return p, st, nil
}

// refused reports a decision made before any key was looked up, such as
// a request with no key, to the observer.
func (m *Manager) refused(ctx context.Context, err error, client *clientAddr) {
	if m.observe != nil {
		m.observe(ctx, Event{Err: err, ClientIP: client.get()})
	}
}

// scopeRefused reports to the observer that RequireScopes refused p's
// request after the middleware let it through.
func (m *Manager) scopeRefused(ctx context.Context, p *Principal, err error) {
	if m.observe != nil {
		m.observe(ctx, Event{KeyID: p.KeyID, Owner: p.Owner, Err: err})
	}
}

// decide finds the key, in the store and then among the static keys, and
// admits it or not. On refusal of a found key, the Principal still names it
// (for the observer). When match is not nil, decide records in it which
// digest found the key.
func (m *Manager) decide(ctx context.Context, key string, client *clientAddr, buf []byte, match *keyMatch, cost int) (Principal, LimitStatus, error) {
	// With static keys, every key pays for the static lookup, found in the
	// store or not, so that timing does not tell a stored key from an
	// unknown one.
	static := m.staticKey(key)
	shaped := m.hasAcceptedShape(key)
	imported := !shaped && m.importedShape(key)
	if shaped || imported {
		hashers, ids := m.hashers, m.hashIDs
		if imported {
			hashers, ids = m.importHashers, m.importIDs
		}
		for i, h := range hashers {
			digest := h.Sum(buf[:0], key)
			var k *Key
			if m.snapshots != nil {
				// The memory store's records are immutable: read in place.
				var ok bool
				if k, ok = m.snapshots.findSnapshot(digest); !ok {
					continue
				}
			} else {
				found, err := m.store.FindByDigest(ctx, digest)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return Principal{}, LimitStatus{}, unavailable("key lookup", err)
				}
				k = &found
			}
			if k.Hash != ids[i] || !equalDigests(k.Digest, digest) {
				continue
			}
			if !imported {
				match.found(i, digest)
			} else if j := slices.Index(m.hashIDs, ids[i]); j >= 0 {
				match.found(j, digest)
			}
			p, st, err := m.admit(ctx, k, client, true, cost)
			if err == nil && imported && ids[i] != m.hashIDs[0] {
				m.rehash(ctx, k, key)
			}
			return p, st, err
		}
		if err := ctx.Err(); err != nil {
			return Principal{}, LimitStatus{}, unavailable("key lookup", err)
		}
	}
	if static != nil {
		match.found(staticMatch, nil)
		return m.admit(ctx, static, client, false, cost)
	}
	if !shaped && !imported {
		return Principal{}, LimitStatus{}, ErrMalformedKey
	}
	return Principal{}, LimitStatus{}, ErrUnknownKey
}

// staticKey returns the static key whose plaintext is key, or nil.
func (m *Manager) staticKey(key string) *Key {
	if len(m.static) == 0 || len(key) > maxStaticKeyLen {
		return nil
	}
	return m.static[staticDigest(key)]
}

// keyMatch says how a request's key was found: which Hasher's digest found
// it in the store, or that it is a static key. It lets a nested middleware
// of the same Manager recognise the key without the request context keeping
// the key itself. The zero value (or a digest of another size than
// SHA-256's) recognises nothing, so the key is verified again.
type keyMatch struct {
	digest *[sha256.Size]byte // in the middleware's context allocation
	hasher int                // index in Manager.hashers, or staticMatch
}

const staticMatch = -1

// found records, unless match is nil, that the digest made by hashers[i]
// (or staticMatch) found the key.
func (match *keyMatch) found(i int, digest []byte) {
	if match == nil {
		return
	}
	match.hasher = i
	if len(digest) == sha256.Size {
		match.digest = (*[sha256.Size]byte)(digest)
	}
}

// sameKey reports whether key is the key that match records this Manager
// found for principal p.
func (m *Manager) sameKey(key string, p *Principal, match *keyMatch) bool {
	switch {
	case match.hasher == staticMatch:
		k := m.staticKey(key)
		return k != nil && k.ID == p.KeyID
	case match.digest == nil || match.hasher < 0 || match.hasher >= len(m.hashers):
		return false
	}
	var buf [sha256.Size]byte
	return equalDigests(m.hashers[match.hasher].Sum(buf[:0], key), match.digest[:])
}

// admit applies a found key's policy, in an order that spends nothing on
// a request that will be refused: first what refuses the key outright
// (refusal), then what the request is charged (charge).
func (m *Manager) admit(ctx context.Context, k *Key, client *clientAddr, stored bool, cost int) (Principal, LimitStatus, error) {
	p := principalOf(k)
	// Reading the clock costs more than the rest of a cache hit on some
	// machines: it is read only for keys and settings that need it, once.
	var now time.Time
	if err := m.refusal(k, client, &now); err != nil {
		return p, LimitStatus{}, err
	}
	if m.warnAge > 0 && !k.CreatedAt.IsZero() {
		if age := now.Sub(k.CreatedAt); age > m.warnAge {
			m.warnOld(k, age, now)
		}
	}
	st, err := m.charge(ctx, k, stored, &now, cost)
	return p, st, err
}

// refusal says why k is refused whatever the request is charged: its
// state, its expiry, its age, the client address. It changes nothing. It
// sets *now to the current time when a check needed it.
func (m *Manager) refusal(k *Key, client *clientAddr, now *time.Time) error {
	if !k.Enabled {
		return ErrKeyDisabled
	}
	if !k.ExpiresAt.IsZero() {
		if *now = m.clock(); k.Expired(*now) {
			return ErrKeyExpired
		}
	}
	if (m.maxAge > 0 || m.warnAge > 0) && !k.CreatedAt.IsZero() {
		if now.IsZero() {
			*now = m.clock()
		}
		if m.maxAge > 0 && now.Sub(k.CreatedAt) > m.maxAge {
			return ErrKeyTooOld
		}
	}
	if len(k.AllowedIPs) > 0 {
		if a := client.get(); !a.IsValid() || !inPrefixes(a, k.AllowedIPs) {
			return ErrIPNotAllowed
		}
	}
	return nil
}

// charge counts a request that refusal let through, at its cost: against
// every rate limit of the key and of its owner's policy first, in one call
// of the Limiter, then against the remaining uses of the key and of its
// owner, so a rate-limited request spends no use; then it records the use
// for LastUsedAt. Static keys (stored is false) have no uses, no owner
// policy and no record.
func (m *Manager) charge(ctx context.Context, k *Key, stored bool, now *time.Time, cost int) (LimitStatus, error) {
	var st LimitStatus
	var owner *OwnerPolicy
	if stored && m.ownerStore != nil {
		var err error
		if owner, err = m.ownerPolicy(ctx, k.Owner); err != nil {
			return LimitStatus{}, err
		}
	}
	// The buckets go to the Limiter, an interface, so they live on the
	// heap: allocate them only for a key that has limits, and once.
	var buckets []Bucket
	if n := m.bucketCount(k) + ownerLimits(owner); n > 0 {
		id := k.ID
		if k.RotatedTo != "" {
			var err error
			if id, err = m.chainEnd(ctx, k); err != nil {
				return LimitStatus{}, err
			}
		}
		buckets = m.bucketsOf(k, id, make([]Bucket, 0, n))
		if owner != nil {
			for _, r := range owner.RateLimits {
				buckets = append(buckets, Bucket{ID: owner.bucket, Limit: r})
			}
		}
	}
	if len(buckets) > 0 {
		if now.IsZero() {
			*now = m.clock()
		}
		var err error
		if st, err = m.limiter.Allow(ctx, buckets, cost, *now); err != nil {
			return LimitStatus{}, unavailable("rate limiter", err)
		}
		if !st.Allowed {
			return st, &RateLimitError{Status: st}
		}
	}
	switch limited := k.RemainingUses != nil && stored; {
	case owner != nil && owner.RemainingUses != nil:
		if err := m.spendPooled(ctx, k, limited, owner, now, cost); err != nil {
			return st, err
		}
	case limited:
		if err := m.spendUse(ctx, k, now, cost); err != nil {
			return st, err
		}
	}
	if stored {
		m.usage.record(k.ID, m.clock)
	}
	return st, nil
}

// maxChain bounds how many rotations chainEnd follows: a chain longer
// than that, with its first key still in grace, is refused (503) rather
// than counted apart.
const maxChain = 64

// chainMemoTTL is how long a Manager trusts where a rotation chain ended,
// and chainMemoMax how many chains it remembers: a key in its grace
// period costs one chain walk (a store read per rotation) every
// chainMemoTTL, not one per request. A chain extended by another process
// meanwhile counts the old key apart for at most chainMemoTTL, less than
// the window's worth that SECURITY.md allows each rotation.
const (
	chainMemoTTL = 5 * time.Second
	chainMemoMax = 4096
)

// chainMemo remembers chain ends by the rotated key's RotatedTo.
type chainMemo struct {
	mu   sync.Mutex
	ends map[string]chainMemoEntry
	// gen counts resets: a walk that began before one may have read a
	// chain as it was before a rotation, and is not remembered.
	gen uint64
}

type chainMemoEntry struct {
	end   string
	until time.Time
}

func (c *chainMemo) get(next string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ends[next]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.end, true
}

// generation returns the count of resets, for put.
func (c *chainMemo) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers end for next, unless the memo was reset since gen was
// read (before the walk that found end).
func (c *chainMemo) put(next, end string, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return // a rotation since the walk began may have moved the end
	}
	if c.ends == nil || len(c.ends) >= chainMemoMax {
		c.ends = map[string]chainMemoEntry{} // forget all: a walk each is cheap
	}
	c.ends[next] = chainMemoEntry{end, now.Add(chainMemoTTL)}
}

// reset forgets every chain: this Manager rotated a key, which may end a
// chain it remembers.
func (c *chainMemo) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ends = nil
	c.gen++
}

// chainEnd returns the ID of the key at the end of k's rotation chain:
// the key that replaced k, or the one that replaced that, and so on. A
// key rotated while its predecessor is in grace would otherwise leave the
// predecessor counting against windows nobody else uses. The answer is
// remembered for chainMemoTTL.
func (m *Manager) chainEnd(ctx context.Context, k *Key) (string, error) {
	now := m.clock()
	if end, ok := m.chains.get(k.RotatedTo, now); ok {
		return end, nil
	}
	gen := m.chains.generation()
	end, err := m.walkChain(ctx, k)
	if err == nil {
		m.chains.put(k.RotatedTo, end, now, gen)
	}
	return end, err
}

// walkChain follows k's rotation chain in the store to its end.
func (m *Manager) walkChain(ctx context.Context, k *Key) (string, error) {
	id := k.RotatedTo
	for range maxChain {
		next, err := m.store.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return id, nil // revoked: its windows are still the chain's
		}
		if err != nil {
			return "", unavailable("key lookup", err)
		}
		if next.RotatedTo == "" {
			return id, nil
		}
		id = next.RotatedTo
	}
	return "", unavailable("key lookup", fmt.Errorf("key %s: a rotation chain longer than %d", k.ID, maxChain))
}

// bucketCount is how many buckets bucketsOf appends for k.
func (m *Manager) bucketCount(k *Key) int {
	n := len(k.RateLimits)
	if !k.RateLimit.IsZero() {
		n++
	}
	if n == 0 && !m.defaultLimit.IsZero() {
		n = 1
	}
	return n
}

func ownerLimits(p *OwnerPolicy) int {
	if p == nil {
		return 0
	}
	return len(p.RateLimits)
}

// bucketsOf appends to dst the rate limits a request of k counts against,
// under id: its RateLimit and RateLimits, or the Manager's default when it
// has none. id is k's ID, or for a rotated key, in its grace period, the
// ID of the key at the end of its rotation chain (chainEnd), so that every
// key of the chain shares one budget rather than multiplying it.
func (m *Manager) bucketsOf(k *Key, id string, dst []Bucket) []Bucket {
	if !k.RateLimit.IsZero() {
		dst = append(dst, Bucket{ID: id, Limit: k.RateLimit})
	}
	for _, r := range k.RateLimits {
		dst = append(dst, Bucket{ID: id, Limit: r})
	}
	if len(dst) == 0 && !m.defaultLimit.IsZero() {
		dst = append(dst, Bucket{ID: id, Limit: m.defaultLimit})
	}
	return dst
}

// spendUse takes cost of k's remaining uses in the store, which has the
// last word: the key found may be a cached copy of one since disabled,
// rotated or expired.
func (m *Manager) spendUse(ctx context.Context, k *Key, now *time.Time, cost int) error {
	us, ok := m.store.(UsageStore)
	if !ok {
		return unavailable("usage count", fmt.Errorf("%T cannot count key uses", m.store))
	}
	if now.IsZero() {
		*now = m.clock()
	}
	_, err := us.SpendUse(ctx, Spend{ID: k.ID, N: int64(cost), Now: *now, Refill: k.Refill})
	if errors.Is(err, ErrUsageExhausted) && k.Refill != nil {
		return &UsageExhaustedError{Reset: k.Refill.NextRefill(*now).Sub(*now)}
	}
	return spendError(err)
}

// spendError is the refusal for a store's answer to a spend.
func spendError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUsageExhausted):
		return ErrUsageExhausted
	case errors.Is(err, ErrKeyDisabled):
		return ErrKeyDisabled
	case errors.Is(err, ErrKeyExpired):
		return ErrKeyExpired
	case errors.Is(err, ErrNotFound):
		return ErrUnknownKey // revoked since it was found
	}
	return unavailable("usage count", err)
}

// lifetimeWarnEvery is how often the same old key is logged.
const lifetimeWarnEvery = time.Hour

// warnOld logs that a key is past its recommended lifetime, at most once
// per key per lifetimeWarnEvery.
func (m *Manager) warnOld(k *Key, age time.Duration, now time.Time) {
	m.warnMu.Lock()
	last, seen := m.warned[k.ID]
	if seen && now.Sub(last) < lifetimeWarnEvery {
		m.warnMu.Unlock()
		return
	}
	if m.warned == nil {
		m.warned = map[string]time.Time{}
	}
	if len(m.warned) >= max(m.warnSweepAt, 10_000) {
		// Keep the map as small as the set of old keys in use: entries
		// older than the interval no longer suppress anything. The next
		// sweep waits until the map has doubled, so that many old keys
		// in use do not make every warning scan them all.
		for id, t := range m.warned {
			if now.Sub(t) >= lifetimeWarnEvery {
				delete(m.warned, id)
			}
		}
		m.warnSweepAt = 2 * len(m.warned)
	}
	m.warned[k.ID] = now
	m.warnMu.Unlock()
	m.logger.Warn("apikey: key is older than its recommended lifetime; rotate it",
		"key_id", k.ID, "owner", k.Owner, "name", k.Name,
		"age", age.Round(time.Second).String(), "recommended", m.warnAge.String())
}

// hasAcceptedShape reports whether key is well formed with the Manager's
// prefix or one of its accepted prefixes.
func (m *Manager) hasAcceptedShape(key string) bool {
	if hasValidShape(key, m.prefix) {
		return true
	}
	for _, p := range m.accepted {
		if hasValidShape(key, p) {
			return true
		}
	}
	return false
}

// spendPooled takes cost uses from the uses k's owner shares, and from
// k's own when limited, both or neither.
func (m *Manager) spendPooled(ctx context.Context, k *Key, limited bool, owner *OwnerPolicy, now *time.Time, cost int) error {
	if now.IsZero() {
		*now = m.clock()
	}
	_, _, err := m.ownerStore.SpendPooled(ctx, Spend{ID: k.ID, N: int64(cost), Now: *now, Refill: k.Refill}, limited, owner.Owner, owner.Refill)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUsageExhausted) {
		// The key's refill or the owner's: whichever is sooner is when a
		// retry may pass; with either unrefilled, no promise, since the
		// uses that ran out may be those that never come back.
		spent := []*Refill{owner.Refill}
		if limited {
			spent = append(spent, k.Refill)
		}
		var reset time.Duration
		for _, r := range spent {
			if r == nil {
				return &UsageExhaustedError{}
			}
			if d := r.NextRefill(*now).Sub(*now); reset == 0 || d < reset {
				reset = d
			}
		}
		return &UsageExhaustedError{Reset: reset}
	}
	return spendError(err)
}
