// Package pgfeed is a cache.Feed on PostgreSQL LISTEN/NOTIFY. The
// change log's trigger, which SQLStore.Migrate creates, sends a
// notification with the key's ID whenever a key changes in a way that
// matters, whoever the writer is: this library in any process, the apikey
// command, or a hand-written UPDATE or DELETE. Each process LISTENs on its
// own connection (database/sql cannot LISTEN, so the feed uses pgx's own
// connection) and drops the key from its cache when the change commits.
//
//	feed, err := pgfeed.New(dsn, store) // store is the *apikey.SQLStore
//	cached := cache.New(store, cache.WithTTL(5*time.Minute), cache.WithFeed(feed))
//	defer cached.Close()
//
// # Bound
//
// A change reaches every replica when it commits plus a network round
// trip: within a second on one network, milliseconds in practice.
//
// When the connection drops, the feed tells the cache, which keeps entries
// for its fallback TTL at most (cache.WithFallbackTTL, 1 s by default),
// reconnects with backoff, and empties the cache once it LISTENs again, so
// a change missed meanwhile is honoured within the fallback TTL. A
// connection that dies silently (a network partition) is noticed by a ping
// after a quiet heartbeat (2 s by default), so then the bound is two
// heartbeats plus the fallback TTL. Verification never waits for the feed
// and never fails open: a cache that has dropped an entry reads the store.
//
// The listening connection also prunes the change log now and then. It
// must reach PostgreSQL directly, or through a pooler in session mode:
// LISTEN does not survive transaction pooling.
package pgfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/backoff"
)

// Defaults for New.
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultRetention = 5 * time.Minute
	// DefaultApplicationName is the application_name of the listening
	// connections, unless the connection string sets one.
	DefaultApplicationName = "apikey-pgfeed"
)

// connectTimeout bounds a connection attempt when the connection string
// sets no connect_timeout.
const connectTimeout = 10 * time.Second

// Feed listens for the change log's notifications. It is safe for
// concurrent use; each Subscribe has its own connection.
type Feed struct {
	config    *pgx.ConnConfig
	channel   string
	store     *apikey.SQLStore
	heartbeat time.Duration
	retention time.Duration
	logger    *slog.Logger
}

var _ cache.Feed = (*Feed)(nil)

// Option configures New.
type Option func(*Feed)

// WithHeartbeat sets how long the connection may stay quiet before the
// feed pings it to know it is alive (DefaultHeartbeat).
func WithHeartbeat(d time.Duration) Option { return func(f *Feed) { f.heartbeat = d } }

// WithRetention sets how old change-log entries get before the feed
// deletes them (DefaultRetention). Other feeds reading the same log, such
// as package pollfeed, need it well above their interval.
func WithRetention(d time.Duration) Option { return func(f *Feed) { f.retention = d } }

// WithLogger sets where the feed logs lost and regained connections
// (slog.Default() otherwise). It logs no key IDs and no credentials.
func WithLogger(l *slog.Logger) Option { return func(f *Feed) { f.logger = l } }

// New returns a Feed for store, a PostgreSQL SQLStore whose change log
// Migrate created, that connects with connString (a URL or key=value
// string, as pgx.ParseConfig reads). It does no I/O. It returns an error
// wrapping apikey.ErrInvalidInput for a store of another dialect, a
// connection string pgx cannot parse or an option out of range.
func New(connString string, store *apikey.SQLStore, opts ...Option) (*Feed, error) {
	if store == nil || store.NotifyChannel() == "" {
		return nil, fmt.Errorf("pgfeed: %w: the store must be a PostgreSQL *apikey.SQLStore", apikey.ErrInvalidInput)
	}
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		// pgx's message never holds the password.
		return nil, fmt.Errorf("pgfeed: %w: %w", apikey.ErrInvalidInput, err)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = DefaultApplicationName
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	f := &Feed{config: cfg, channel: store.NotifyChannel(), store: store,
		heartbeat: DefaultHeartbeat, retention: DefaultRetention, logger: slog.Default()}
	for _, opt := range opts {
		opt(f)
	}
	switch {
	case f.heartbeat <= 0:
		return nil, fmt.Errorf("pgfeed: %w: WithHeartbeat needs a positive duration", apikey.ErrInvalidInput)
	case f.retention < time.Second:
		return nil, fmt.Errorf("pgfeed: %w: WithRetention needs a second at least", apikey.ErrInvalidInput)
	}
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Publish implements cache.Feed and does nothing: the change log's
// trigger notifies every change when it commits.
func (f *Feed) Publish(context.Context, string) error { return nil }

// Subscribe implements cache.Feed: it LISTENs on its own connection and
// reports each notified key to h, reconnecting with backoff, until ctx is
// done.
func (f *Feed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	bo := backoff.Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}
	nextPrune := time.Now().Add(f.pruneEvery())
	for {
		listened, err := f.listen(ctx, h, &nextPrune)
		if ctx.Err() != nil {
			return nil
		}
		h.Disconnected(err)
		if listened {
			bo.Reset()
			f.logger.Warn("pgfeed: lost the listening connection; caches keep entries for their fallback TTL", "error", err)
		}
		if !backoff.Sleep(ctx, bo.Next()) {
			return nil
		}
	}
}

// listen connects, LISTENs and delivers notifications until the
// connection fails or ctx is done. It reports whether it got to LISTEN.
func (f *Feed) listen(ctx context.Context, h cache.FeedHandler, nextPrune *time.Time) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, f.config)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx) //nolint:errcheck // the connection is being dropped
	}()
	if _, err := conn.Exec(ctx, `LISTEN "`+f.channel+`"`); err != nil {
		return false, err
	}
	h.Connected()
	f.logger.Debug("pgfeed: listening", "channel", f.channel)
	check := time.Now().Add(f.heartbeat)
	for {
		wctx, cancel := context.WithDeadline(ctx, check)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			h.Changed(n.Payload)
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded):
			return true, err
		}
		// A heartbeat with no news: make sure the connection still works.
		pctx, cancel := context.WithTimeout(ctx, f.heartbeat)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, err
		}
		if now := time.Now(); now.After(*nextPrune) {
			*nextPrune = now.Add(f.pruneEvery())
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := f.store.PruneChanges(pctx, f.retention); err != nil && ctx.Err() == nil {
				f.logger.Warn("pgfeed: pruning the change log failed", "error", err)
			}
			cancel()
		}
		check = time.Now().Add(f.heartbeat)
	}
}

// pruneEvery is how often a process prunes the log: a quarter of the
// retention, spread so replicas do not all prune at once.
func (f *Feed) pruneEvery() time.Duration {
	q := f.retention / 4
	return q/2 + rand.N(q/2+1)
}
