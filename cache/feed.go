package cache

import (
	"context"
	"time"

	"github.com/go-apikey/apikey/internal/backoff"
)

// A Feed carries "key K changed" between the processes that share a
// store, so that each drops K from its [Store] at once instead of
// serving it until the cache TTL. Attach one with [WithFeed].
//
// This module has three, each in its own package with its own driver:
//
//   - pgfeed: PostgreSQL LISTEN/NOTIFY on the change log's trigger. Every
//     writer is heard, the apikey command and manual SQL included. A
//     change reaches every replica within a second on one network (tens
//     of milliseconds in practice).
//   - pollfeed: reads an SQLStore's change log every interval (1 s by
//     default), on any dialect. Every writer is heard; a change reaches
//     every replica within the interval plus one query.
//   - redisfeed: Redis pub/sub. The database says nothing here: each
//     Store publishes its own writes (the apikey command does too, with
//     --redis), so a change made without one (manual SQL, or a tool that
//     does not publish) is seen only within the cache TTL. A published
//     change reaches every replica within a second on one network.
//
// Without a feed, a change made elsewhere is seen within the cache TTL.
// While a feed is down, a Store keeps entries for the fallback TTL
// at most ([WithFallbackTTL]), and empties itself when the feed is back,
// so a change missed meanwhile is honoured within the time the feed takes
// to notice it is down plus the fallback TTL.
type Feed interface {
	// Publish announces that the key with the given ID changed. A
	// Store calls it after each write through it, on the writer's
	// goroutine, and ignores its error: Publish must not block for long
	// (queue, and deliver in the background), and must report its own
	// failures. Feeds fed by the database itself do nothing here.
	Publish(ctx context.Context, keyID string) error
	// Subscribe delivers the feed to h until ctx is done, then returns
	// once everything it started has stopped. It connects, calls
	// h.Connected, then h.Changed for each change; when the connection
	// is lost it calls h.Disconnected and connects again, with backoff.
	// It calls h's methods from one goroutine at a time.
	Subscribe(ctx context.Context, h FeedHandler) error
}

// A FeedHandler receives what a Feed carries. A Store with
// [WithFeed] passes one to Subscribe; other caches may implement it.
type FeedHandler interface {
	// Connected reports that the feed delivers every change from now on.
	// Changes made before, while it was not connected, may have been
	// missed: a cache should empty itself.
	Connected()
	// Changed reports that the key with the given ID changed, or may
	// have.
	Changed(keyID string)
	// Disconnected reports that changes may be missed from now on, and
	// why. It may be called again without Connected in between.
	Disconnected(err error)
}

// DefaultFallbackTTL is how long a Store keeps an entry while its
// feed is down, unless WithFallbackTTL says otherwise.
const DefaultFallbackTTL = time.Second

// WithFeed makes the cache follow feed: it drops each key the feed reports
// changed, and publishes the keys changed through it. New then
// starts a goroutine that runs feed.Subscribe until [Store.Close].
// Until the feed first connects, and whenever it is down, entries live at
// most the fallback TTL ([WithFallbackTTL]), so a longer cache TTL
// (minutes) is safe with a feed: it only applies while the feed is up.
func WithFeed(feed Feed) Option {
	return func(c *Store) { c.feed = feed }
}

// WithFallbackTTL sets how long entries live while the cache's feed is
// down (DefaultFallbackTTL); it bounds how long a change missed during an
// outage of the feed can go unseen. It is capped by the cache TTL.
func WithFallbackTTL(d time.Duration) Option {
	return func(c *Store) { c.fallbackTTL = d }
}

// cacheFollower is the FeedHandler of a Store, kept apart so the
// store's method set stays that of an apikey.Store.
type cacheFollower struct{ c *Store }

func (f cacheFollower) Changed(keyID string) { f.c.Invalidate(keyID) }

// Connected empties the cache: a change made while the feed was down may
// not have been delivered. Entries filled from now on get the full TTL.
func (f cacheFollower) Connected() {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.feedDown = false
	c.purgeLocked()
}

// Disconnected cuts every entry's life to the fallback TTL from now,
// rather than emptying the cache: requests keep their hits, and no entry
// outlives the bound.
func (f cacheFollower) Disconnected(error) {
	c := f.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++ // a fill under way may have read before the outage began
	if c.feedDown {
		return
	}
	c.feedDown = true
	limit := c.now().Add(c.fallbackTTL)
	for d, e := range c.entries {
		if e.expires.After(limit) {
			e.expires = limit
			c.entries[d] = e
		}
	}
}

// follow runs the feed until ctx is done. A Subscribe that returns early
// is a feed that cannot run: the cache stays in fallback mode and tries
// again, every few seconds.
func (c *Store) follow(ctx context.Context) {
	defer close(c.followDone)
	h := cacheFollower{c}
	bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := c.feed.Subscribe(ctx, h)
		if ctx.Err() != nil {
			return
		}
		h.Disconnected(err)
		if !backoff.Sleep(ctx, bo.Next()) {
			return
		}
	}
}

// Close stops following the feed (see WithFeed) and waits for the feed's
// goroutines to end. The cache keeps working, with the fallback TTL. Close
// is safe to call more than once; without a feed it does nothing.
func (c *Store) Close() error {
	if c.feed == nil {
		return nil
	}
	c.closeFollowing.Do(func() {
		c.stopFollowing()
		<-c.followDone
		cacheFollower{c}.Disconnected(nil)
	})
	<-c.followDone
	return nil
}

// publish announces a write through the cache to the other processes.
func (c *Store) publish(ctx context.Context, id string) {
	if c.feed != nil {
		_ = c.feed.Publish(ctx, id) // the feed reports its own failures
	}
}
