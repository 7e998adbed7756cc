// Package redisfeed is a cache.Feed on Redis pub/sub, for services that
// run Redis beside their database. It lives in its own package so that
// the apikey package never imports a Redis client.
//
//	feed := redisfeed.New(rdb)
//	defer feed.Close() // after the cache's Close: publishes what is pending
//	cached := cache.New(store, cache.WithTTL(time.Minute), cache.WithFeed(feed))
//	defer cached.Close()
//
// # What is heard
//
// The database says nothing to Redis: each cache (package cache) publishes the keys
// changed through it (disabled, enabled, rotated, revoked, updated, out of
// uses). So does the apikey command, and the admin page it serves, given
// --redis (or APIKEY_REDIS). A change made any other way, by manual SQL or
// by a tool that does not publish through a cache with this feed, is
// seen only within the cache TTL. For those, use a feed the database feeds
// (pgfeed on PostgreSQL, pollfeed on any SQL store), or keep the TTL
// short.
//
// # Bound
//
// A published change reaches every replica within a second on one
// network, milliseconds in practice. Publishing never blocks the writer:
// Publish queues the key ID and a goroutine sends it, retrying with
// backoff while Redis cannot be reached; a change that could not be sent
// before the writing process stopped is seen only within the cache TTL.
//
// When a subscriber's connection drops, the feed tells the cache, which
// keeps entries for its fallback TTL at most (cache.WithFallbackTTL),
// resubscribes with backoff, and empties the cache once subscribed again.
// A connection that dies silently is noticed by a ping after a quiet
// heartbeat (2 s by default). Verification never waits for Redis and
// never fails open.
package redisfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/backoff"
)

// Defaults for New.
const (
	DefaultChannel   = "apikey:changes"
	DefaultHeartbeat = 2 * time.Second
)

// maxPending is the most key IDs waiting to be published; beyond it, new
// ones are dropped (and logged), and seen elsewhere within the cache TTL.
const maxPending = 100_000

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("redisfeed: feed closed")

// Feed publishes and receives key changes on one Redis channel. It is
// safe for concurrent use.
type Feed struct {
	rdb       redis.UniversalClient
	channel   string
	heartbeat time.Duration
	logger    *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
	wake    chan struct{} // a token when pending may hold IDs
	started bool
	closed  bool
	quit    chan struct{}
	done    chan struct{}
	err     error // the last failed publish, until one succeeds
}

var _ cache.Feed = (*Feed)(nil)

// Option configures New.
type Option func(*Feed)

// WithChannel sets the Redis channel (DefaultChannel), to keep several
// services or key tables apart on one Redis.
func WithChannel(name string) Option { return func(f *Feed) { f.channel = name } }

// WithHeartbeat sets how long a subscription may stay quiet before the
// feed pings it to know it is alive (DefaultHeartbeat).
func WithHeartbeat(d time.Duration) Option { return func(f *Feed) { f.heartbeat = d } }

// WithLogger sets where the feed logs lost connections and failed
// publishes (slog.Default() otherwise). It logs no key IDs.
func WithLogger(l *slog.Logger) Option { return func(f *Feed) { f.logger = l } }

// New returns a Feed on rdb (a *redis.Client, *redis.ClusterClient or
// *redis.Ring). It panics if rdb is nil, the channel is empty or the
// heartbeat is not positive. Call Close when done.
func New(rdb redis.UniversalClient, opts ...Option) *Feed {
	if rdb == nil {
		panic("redisfeed: New called with a nil client")
	}
	f := &Feed{rdb: rdb, channel: DefaultChannel, heartbeat: DefaultHeartbeat, logger: slog.Default(),
		pending: map[string]struct{}{}, wake: make(chan struct{}, 1)}
	for _, opt := range opts {
		opt(f)
	}
	switch {
	case f.channel == "":
		panic("redisfeed: WithChannel needs a name")
	case f.heartbeat <= 0:
		panic("redisfeed: WithHeartbeat needs a positive duration")
	}
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	return f
}

// Publish implements cache.Feed. It queues keyID and returns at once; a
// goroutine publishes it, retrying while Redis is unreachable. It returns
// ErrClosed after Close.
func (f *Feed) Publish(_ context.Context, keyID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	if len(f.pending) >= maxPending {
		f.logger.Error("redisfeed: too many changes waiting to be published; dropping one", "pending", len(f.pending))
		return fmt.Errorf("redisfeed: %d changes waiting to be published", len(f.pending))
	}
	f.pending[keyID] = struct{}{}
	if !f.started {
		f.started = true
		f.quit, f.done = make(chan struct{}), make(chan struct{})
		go f.publishLoop()
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

func (f *Feed) publishLoop() {
	defer close(f.done)
	bo := backoff.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	// Close interrupts a publish in progress, then makes its own attempt.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-f.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-f.quit:
			return
		case <-f.wake:
		}
		for {
			err := f.flush(ctx, 5*time.Second)
			if err == nil {
				bo.Reset()
				break
			}
			wait := time.NewTimer(bo.Next())
			select {
			case <-f.quit:
				wait.Stop()
				return
			case <-wait.C:
			}
		}
	}
}

// flush publishes what is pending, in one pipeline, and puts it back if
// that fails.
func (f *Feed) flush(ctx context.Context, timeout time.Duration) error {
	f.mu.Lock()
	batch := f.pending
	if len(batch) > 0 {
		f.pending = map[string]struct{}{}
	}
	f.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id := range batch {
			p.Publish(ctx, f.channel, id)
		}
		return nil
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		for id := range batch {
			f.pending[id] = struct{}{}
		}
		if f.err == nil {
			f.logger.Warn("redisfeed: publishing changes failed; retrying. Other replicas see them within their cache TTL until then", "error", err, "pending", len(f.pending))
		}
		f.err = err
		return err
	}
	if f.err != nil {
		f.logger.Info("redisfeed: publishing changes again")
	}
	f.err = nil
	return nil
}

// Close stops the publishing goroutine after one last attempt, of five
// seconds at most, to publish what is pending, and returns its error.
// Subscriptions end with their context, not with Close. Close is safe to
// call more than once.
func (f *Feed) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	started := f.started
	f.mu.Unlock()
	if !started {
		return nil
	}
	close(f.quit)
	<-f.done
	if err := f.flush(context.Background(), 5*time.Second); err != nil {
		f.mu.Lock()
		n := len(f.pending)
		f.mu.Unlock()
		if n == 1 {
			return fmt.Errorf("redisfeed: 1 change left unpublished: %w", err)
		}
		return fmt.Errorf("redisfeed: %d changes left unpublished: %w", n, err)
	}
	return nil
}

// Subscribe implements cache.Feed: it subscribes to the channel and
// reports each published key to h, resubscribing with backoff, until ctx
// is done.
func (f *Feed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	for {
		subscribed, err := f.receive(ctx, h)
		if ctx.Err() != nil {
			return nil
		}
		h.Disconnected(err)
		if subscribed {
			bo.Reset()
			f.logger.Warn("redisfeed: lost the subscription; caches keep entries for their fallback TTL", "error", err)
		}
		if !backoff.Sleep(ctx, bo.Next()) {
			return nil
		}
	}
}

// receive subscribes and delivers messages until the connection fails or
// ctx is done. It reports whether the subscription was confirmed.
func (f *Feed) receive(ctx context.Context, h cache.FeedHandler) (bool, error) {
	ps := f.rdb.Subscribe(ctx, f.channel)
	defer ps.Close()
	// Closing the subscription is what interrupts a read in progress.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	subscribed, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, f.heartbeat)
		if err != nil {
			if ctx.Err() != nil {
				return subscribed, ctx.Err()
			}
			if isTimeout(err) && subscribed && !pinged {
				// Quiet for a heartbeat: the Pong must come within the next.
				if err := ps.Ping(ctx); err != nil {
					return subscribed, err
				}
				pinged = true
				continue
			}
			return subscribed, err
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !subscribed {
				subscribed = true
				h.Connected()
			}
		case *redis.Message:
			h.Changed(m.Payload)
		case *redis.Pong:
			pinged = false
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
