package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-apikey/apikey"
)

// Store is an [apikey.Store] that remembers the results of FindByDigest, so
// that verifying a key already seen costs no round trip to the store behind
// it. It caches found keys for a TTL and unknown digests for a shorter one,
// so a client retrying a bad key cannot hammer the database. It holds at
// most a bounded number of entries, and unknown digests take at most a
// quarter of them, so a flood of distinct bad keys cannot push the good
// ones out. Concurrent misses for one digest share one lookup in the store
// behind it, so a burst of requests with a key whose entry just expired
// (or with one bad key) sends the store one query, not one a request.
//
// Writes through the Store (Update, Delete, Create) take effect in
// its cache at once. Writes by other processes sharing the database are
// seen within the TTL: that is the bound on how long a key disabled,
// rotated or revoked elsewhere may still verify here. A change feed
// ([WithFeed]) shortens it to the feed's bound, about a second; see
// [Feed] for each feed's bound and for what happens while one is down.
//
// Like every [apikey.Store], it decides nothing: expiry is still checked by the
// Manager at each request against the current time, so a cached key stops
// working exactly when it expires.
type Store struct {
	next apikey.Store // the store behind the cache

	ttl, negativeTTL time.Duration
	maxEntries       int
	now              func() time.Time

	feed           Feed
	fallbackTTL    time.Duration
	stopFollowing  context.CancelFunc
	followDone     chan struct{}
	closeFollowing sync.Once

	mu       sync.RWMutex
	entries  map[string]cacheEntry // by string(digest)
	ids      map[string]string     // key ID -> string(digest), for positive entries
	misses   map[string]struct{}   // the digests of negative entries
	flights  map[string]*flight    // lookups under way, by string(digest)
	gen      uint64                // bumped by every invalidation
	feedDown bool                  // entries live at most fallbackTTL
}

// flight is one lookup of a digest in the store behind the cache, which
// the misses for that digest that arrive while it is under way wait for
// instead of sending their own: when a hot key's entry expires, or one bad
// key is retried in a burst, the store sees one query, not one a request.
// Its fields are written under Store.mu; answer is read after done
// is closed, and ended only by the lookup's own goroutine.
type flight struct {
	gen  uint64        // the cache's generation when the lookup began
	done chan struct{} // made by the first waiter; closed when the lookup ends
	// answer is the store's answer, set for the waiters when the lookup
	// ends; it stays nil if the lookup ended with its own caller's
	// context, or panicked, and then each waiter looks up again.
	answer *flightAnswer
	ended  bool // endLocked has run
}

type flightAnswer struct {
	key apikey.Key
	err error
}

// cacheEntry is a map value: small to copy on a hit. The Key it points
// to is never changed, since readers use it after the lock is released;
// a change replaces it.
type cacheEntry struct {
	key     *apikey.Key // nil for a cached "not found"
	expires time.Time
}

var (
	_ apikey.UsageStore = (*Store)(nil)
	_ apikey.Rehasher   = (*Store)(nil)
	_ apikey.OwnerStore = (*Store)(nil)
)

// Defaults for New.
const (
	DefaultTTL         = 10 * time.Second
	DefaultNegativeTTL = 5 * time.Second
	DefaultSize        = 100_000
)

// Option configures New.
type Option func(*Store)

// WithTTL sets how long a found key is served from the cache
// (DefaultTTL). It bounds how long a change made by another process
// goes unseen here.
func WithTTL(d time.Duration) Option {
	return func(c *Store) { c.ttl = d }
}

// WithNegativeTTL sets how long an unknown digest is remembered as
// unknown (DefaultNegativeTTL); zero turns negative caching off.
func WithNegativeTTL(d time.Duration) Option {
	return func(c *Store) { c.negativeTTL = d }
}

// WithSize sets the most entries the cache holds (DefaultSize).
// Unknown digests take at most a quarter of them (at least one). When the
// cache is full, a new entry takes the place of an unknown digest if there
// is one, and else of an arbitrary found key; a new unknown digest never
// pushes out a found key.
func WithSize(n int) Option {
	return func(c *Store) { c.maxEntries = n }
}

// WithClock sets the cache's source of the current time, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *Store) { c.now = now }
}

// New returns store behind a verification cache. It panics if
// store is nil or an option is out of range (a TTL or fallback TTL of zero
// or less, a negative TTL below zero, a size below one). With [WithFeed],
// it starts following the feed: call [Store.Close] to stop.
func New(store apikey.Store, opts ...Option) *Store {
	if store == nil {
		panic("cache: New called with a nil Store")
	}
	c := &Store{
		next:        store,
		ttl:         DefaultTTL,
		negativeTTL: DefaultNegativeTTL,
		maxEntries:  DefaultSize,
		fallbackTTL: DefaultFallbackTTL,
		now:         time.Now,
		entries:     map[string]cacheEntry{},
		ids:         map[string]string{},
		misses:      map[string]struct{}{},
		flights:     map[string]*flight{},
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case c.ttl <= 0:
		panic("cache: WithTTL needs a positive duration")
	case c.negativeTTL < 0:
		panic("cache: WithNegativeTTL needs zero or a positive duration")
	case c.maxEntries < 1:
		panic("cache: WithSize needs at least one entry")
	case c.now == nil:
		panic("cache: WithClock given a nil function")
	case c.fallbackTTL <= 0:
		panic("cache: WithFallbackTTL needs a positive duration")
	}
	if c.feed != nil {
		c.feedDown = true // until the feed connects
		var ctx context.Context
		ctx, c.stopFollowing = context.WithCancel(context.Background())
		c.followDone = make(chan struct{})
		go c.follow(ctx)
	}
	return c
}

// FindByDigest implements [apikey.Store], from the cache when it can. Concurrent
// misses for one digest share one lookup in the store behind the cache;
// each still returns when its own context ends.
func (c *Store) FindByDigest(ctx context.Context, digest []byte) (apikey.Key, error) {
	c.mu.RLock()
	e, ok := c.entries[string(digest)]
	c.mu.RUnlock()
	if ok && c.now().Before(e.expires) {
		return e.result()
	}
	return c.miss(ctx, digest)
}

// miss answers FindByDigest for a digest with no live entry: it joins the
// lookup under way for it, or begins one. No code of the user's (clock,
// store, context) runs while c.mu is held, so a panic cannot leave it
// locked.
func (c *Store) miss(ctx context.Context, digest []byte) (apikey.Key, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[string(digest)]; ok {
			c.mu.Unlock()
			if c.now().Before(e.expires) {
				return e.result() // filled by a lookup that just ended
			}
			c.mu.Lock()
		}
		// A lookup that began before an invalidation may return what the
		// invalidation replaced: only one begun since is joined.
		f, ok := c.flights[string(digest)]
		if !ok || f.gen != c.gen {
			d := string(digest)
			f = &flight{gen: c.gen}
			c.flights[d] = f
			c.mu.Unlock()
			return c.lookup(ctx, d, digest, f)
		}
		if f.done == nil {
			f.done = make(chan struct{})
		}
		done := f.done
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return apikey.Key{}, ctx.Err()
		}
		// f.answer was set before done was closed, and is not changed
		// after.
		if a := f.answer; a != nil {
			return a.key, a.err
		}
		// Its caller gave up: look up again.
	}
}

// lookup asks the store behind the cache for digest (d is string(digest))
// on behalf of flight f and whoever joins it, fills the cache with the
// answer, and ends f.
func (c *Store) lookup(ctx context.Context, d string, digest []byte, f *flight) (k apikey.Key, err error) {
	defer func() {
		if !f.ended { // something panicked: the waiters look up again
			c.mu.Lock()
			defer c.mu.Unlock()
			c.endLocked(d, f)
		}
	}()
	k, err = c.next.FindByDigest(ctx, digest)
	var cached *apikey.Key
	ttl := c.ttl
	switch {
	case err == nil && k.ID != "": // a key without an ID is a store's bug: not cached
		cached = new(apikey.Key) // on the heap only when there is a key to cache
		*cached = k
	case errors.Is(err, apikey.ErrNotFound) && c.negativeTTL > 0:
		ttl = c.negativeTTL
	default:
		ttl = 0
	}
	// An error after this caller's context ended, or after its deadline
	// passed (a driver's own timeout may come first), may be that
	// context's: it is not the waiters' answer.
	share := err == nil || ctx.Err() == nil
	if share && err != nil {
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) { // a context's clock
			share = false
		}
	}
	var now time.Time
	if ttl > 0 {
		now = c.now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ttl > 0 {
		c.fillLocked(f.gen, d, cached, now, ttl)
	}
	if f.done != nil && share {
		f.answer = &flightAnswer{key: k, err: err}
	}
	c.endLocked(d, f)
	return k, err
}

// endLocked ends flight f, once: it leaves the table of lookups under way,
// and its waiters wake.
func (c *Store) endLocked(d string, f *flight) {
	if f.ended {
		return
	}
	f.ended = true
	if c.flights[d] == f {
		delete(c.flights, d)
	}
	if f.done != nil {
		close(f.done)
	}
}

// result is what FindByDigest returns for a live entry.
func (e *cacheEntry) result() (apikey.Key, error) {
	if e.key == nil {
		return apikey.Key{}, apikey.ErrNotFound
	}
	return *e.key, nil
}

// fillLocked caches key (or "not found", when it is nil) under
// digest d for ttl from now, or for the fallback TTL while the feed is
// down, unless an invalidation came in since the cache was at generation
// gen: the value read may predate it.
func (c *Store) fillLocked(gen uint64, d string, key *apikey.Key, now time.Time, ttl time.Duration) {
	if c.gen != gen {
		return
	}
	if c.feedDown && c.fallbackTTL < ttl {
		ttl = c.fallbackTTL
	}
	e := cacheEntry{key: key, expires: now.Add(ttl)}
	if old, ok := c.entries[d]; ok {
		c.removeLocked(d, old)
	}
	if e.key == nil {
		if len(c.misses) >= max(c.maxEntries/4, 1) || len(c.entries) >= c.maxEntries {
			if !c.evictMissLocked() {
				return // full of found keys: keep them
			}
		}
		c.misses[d] = struct{}{}
	} else {
		for len(c.entries) >= c.maxEntries {
			if c.evictMissLocked() {
				continue
			}
			for victim, ve := range c.entries { // map order: an arbitrary entry
				c.removeLocked(victim, ve)
				break
			}
		}
		c.ids[e.key.ID] = d
	}
	c.entries[d] = e
}

// evictMissLocked removes an arbitrary negative entry, and reports whether
// there was one.
func (c *Store) evictMissLocked() bool {
	for victim := range c.misses { // map order: an arbitrary entry
		c.removeLocked(victim, c.entries[victim])
		return true
	}
	return false
}

func (c *Store) removeLocked(digest string, e cacheEntry) {
	delete(c.entries, digest)
	if e.key == nil {
		delete(c.misses, digest)
	} else if c.ids[e.key.ID] == digest {
		delete(c.ids, e.key.ID)
	}
}

// Invalidate drops what the cache holds for the key with the given ID, so
// the next verification reads the store. Change feeds call it when another
// process changed the key.
func (c *Store) Invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if d, ok := c.ids[id]; ok {
		c.removeLocked(d, c.entries[d])
	}
}

// Purge empties the cache, for example after a change feed reconnects and
// may have missed changes.
func (c *Store) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purgeLocked()
}

func (c *Store) purgeLocked() {
	c.gen++
	clear(c.entries)
	clear(c.ids)
	clear(c.misses)
}

// Len returns the number of cached entries, found and not found.
func (c *Store) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Create implements [apikey.Store]; it forgets a cached "not found" for the new
// key's digest.
func (c *Store) Create(ctx context.Context, key apikey.Key) error {
	err := c.next.Create(ctx, key)
	c.mu.Lock()
	c.gen++
	if e, ok := c.entries[string(key.Digest)]; ok {
		c.removeLocked(string(key.Digest), e)
	}
	c.mu.Unlock()
	return err
}

// CreateMany implements [apikey.BatchStore] through the store behind the
// cache, and drops what the cache holds for the keys' digests, as Create
// does. When that store is not an apikey.BatchStore, it stores nothing
// and returns an error wrapping errors.ErrUnsupported.
func (c *Store) CreateMany(ctx context.Context, keys []apikey.Key) error {
	bs, ok := c.next.(apikey.BatchStore)
	if !ok {
		return fmt.Errorf("cache: the store behind the cache cannot create keys in a batch: %w", errors.ErrUnsupported)
	}
	err := bs.CreateMany(ctx, keys)
	c.mu.Lock()
	c.gen++
	for _, k := range keys {
		if e, ok := c.entries[string(k.Digest)]; ok {
			c.removeLocked(string(k.Digest), e)
		}
	}
	c.mu.Unlock()
	return err
}

// Update implements [apikey.Store], drops the key from the cache and publishes it
// to the feed, if any. It does so even when the update failed: an
// invalidation is always safe, and a failed commit may have happened.
func (c *Store) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	k, err := c.next.Update(ctx, id, fn)
	c.Invalidate(id)
	c.publish(ctx, id)
	return k, err
}

// Delete implements [apikey.Store], drops the key from the cache and publishes it
// to the feed, if any.
func (c *Store) Delete(ctx context.Context, id string) error {
	err := c.next.Delete(ctx, id)
	c.Invalidate(id)
	c.publish(ctx, id)
	return err
}

// Get implements [apikey.Store]; it always reads the store behind the cache.
func (c *Store) Get(ctx context.Context, id string) (apikey.Key, error) {
	return c.next.Get(ctx, id)
}

// List implements [apikey.Store]; it always reads the store behind the cache.
func (c *Store) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	return c.next.List(ctx, opts)
}

// RecordLastUsed implements [apikey.Store], and moves the LastUsedAt of cached keys
// forward the same way, so FindByDigest agrees with the store.
func (c *Store) RecordLastUsed(ctx context.Context, used map[string]time.Time) error {
	if err := c.next.RecordLastUsed(ctx, used); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range used {
		d, ok := c.ids[id]
		if e := c.entries[d]; ok && e.key.LastUsedAt.Before(t) {
			k := *e.key // a copy of the apikey.Key: shared slices untouched
			k.LastUsedAt = t
			e.key = &k
			c.entries[d] = e
		}
	}
	return nil
}

// SpendUse implements [apikey.UsageStore] when the store behind the cache does; it
// never answers from the cache. When a key runs out, its entry is dropped
// and the key published to the feed, if any.
func (c *Store) SpendUse(ctx context.Context, s apikey.Spend) (int64, error) {
	id := s.ID
	us, ok := c.next.(apikey.UsageStore)
	if !ok {
		return 0, fmt.Errorf("%w: %T cannot count key uses", apikey.ErrStoreUnavailable, c.next)
	}
	left, err := us.SpendUse(ctx, s)
	if left == 0 || err != nil {
		c.Invalidate(id)
	}
	if left == 0 && err == nil {
		c.publish(ctx, id)
	}
	return left, err
}

// Rehash implements [apikey.Rehasher] when the store behind the cache
// does; it drops the key from the cache, forgets the new digest if it is
// cached as unknown, and publishes the key to the feed.
func (c *Store) Rehash(ctx context.Context, id string, old []byte, hash string, digest []byte) error {
	r, ok := c.next.(apikey.Rehasher)
	if !ok {
		return fmt.Errorf("%w: %T cannot rehash keys", apikey.ErrNotFound, c.next)
	}
	err := r.Rehash(ctx, id, old, hash, digest)
	c.Invalidate(id)
	// The new digest may be cached as unknown: the key was looked up by
	// it just before it was found by the old one.
	c.mu.Lock()
	c.gen++
	if e, ok := c.entries[string(digest)]; ok {
		c.removeLocked(string(digest), e)
	}
	c.mu.Unlock()
	if err == nil {
		c.publish(ctx, id)
	}
	return err
}

// Owners implements [apikey.OwnerStore] when the store behind the cache
// does, from that store: owner policies are not cached here (the Manager
// keeps its own copy, see apikey.WithOwnerRefresh).
func (c *Store) Owners(ctx context.Context) ([]apikey.OwnerPolicy, error) {
	os, err := c.ownerStore()
	if err != nil {
		return nil, err
	}
	return os.Owners(ctx)
}

// PutOwner implements [apikey.OwnerStore], in the store behind the cache.
func (c *Store) PutOwner(ctx context.Context, p apikey.OwnerPolicy) error {
	os, err := c.ownerStore()
	if err != nil {
		return err
	}
	return os.PutOwner(ctx, p)
}

// DeleteOwner implements [apikey.OwnerStore], in the store behind the cache.
func (c *Store) DeleteOwner(ctx context.Context, owner string) error {
	os, err := c.ownerStore()
	if err != nil {
		return err
	}
	return os.DeleteOwner(ctx, owner)
}

// SpendPooled implements [apikey.OwnerStore], in the store behind the
// cache, dropping the key from the cache when nothing was spent, as
// SpendUse does.
func (c *Store) SpendPooled(ctx context.Context, s apikey.Spend, key bool, owner string, ownerRefill *apikey.Refill) (int64, int64, error) {
	os, err := c.ownerStore()
	if err != nil {
		return 0, 0, err
	}
	keyLeft, ownerLeft, err := os.SpendPooled(ctx, s, key, owner, ownerRefill)
	if err != nil || keyLeft == 0 {
		c.Invalidate(s.ID)
	}
	if err == nil && keyLeft == 0 {
		c.publish(ctx, s.ID)
	}
	return keyLeft, ownerLeft, err
}

func (c *Store) ownerStore() (apikey.OwnerStore, error) {
	os, ok := c.next.(apikey.OwnerStore)
	if !ok {
		return nil, fmt.Errorf("%w: %T keeps no owner policies", apikey.ErrNotFound, c.next)
	}
	return os, nil
}
