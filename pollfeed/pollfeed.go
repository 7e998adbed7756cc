// Package pollfeed is a cache.Feed that reads an SQLStore's change log
// every interval, so a key changed by any writer (another replica, the
// apikey command, a hand-written UPDATE) is dropped from every cache
// within the interval. It works on every dialect, MySQL, MariaDB and
// SQLite included, and imports no driver.
//
//	feed := pollfeed.New(store) // store is the *apikey.SQLStore
//	cached := cache.New(store, cache.WithTTL(5*time.Minute), cache.WithFeed(feed))
//	defer cached.Close()
//
// # Cost and bound
//
// Each process runs one query per interval (1 s by default), a range read
// of the change log's primary key, whatever the number of keys:
//
//	SELECT seq, key_id FROM <table>_changes WHERE seq > ? ORDER BY seq LIMIT 500
//
// A change is honoured everywhere within the interval plus that query's
// time. Every few minutes, each process also deletes entries older than
// the retention (5 minutes by default).
//
// # Commit order
//
// Entries are numbered when written and seen when committed, which on
// PostgreSQL and MySQL is not always the same order: entry 11 may be
// visible before entry 10. The feed remembers such gaps and reads them
// again at each poll until the entry appears or the gap is older than the
// gap timeout (1 minute by default; a rolled-back transaction leaves a gap
// that never fills). A transaction that changes a key and commits more
// than the gap timeout later is seen only within the cache TTL.
//
// When the database cannot be read, the feed tells the cache, which keeps
// entries for its fallback TTL at most (cache.WithFallbackTTL), polls
// again with backoff, and empties the cache when a poll succeeds again.
package pollfeed

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/backoff"
)

// ChangeLog is what the feed reads: *apikey.SQLStore implements it.
type ChangeLog interface {
	// Changes returns up to limit entries with a Seq above after, in Seq
	// order.
	Changes(ctx context.Context, after int64, limit int) ([]apikey.Change, error)
	// LastChange returns the highest Seq in the log, or 0 when it is empty.
	LastChange(ctx context.Context) (int64, error)
	// PruneChanges deletes entries older than olderThan and returns how
	// many it deleted.
	PruneChanges(ctx context.Context, olderThan time.Duration) (int64, error)
}

var _ ChangeLog = (*apikey.SQLStore)(nil)

// Defaults for New.
const (
	DefaultInterval   = time.Second
	DefaultGapTimeout = time.Minute
	DefaultRetention  = 5 * time.Minute
)

// pageSize is the most entries one query reads; a poll reads pages until
// one is not full.
const pageSize = 500

// startWindow is how many of the latest entries the feed reads when it
// starts, to notice gaps that transactions in flight will fill.
const startWindow = 1000

// Feed polls a change log. It is safe for concurrent use; each Subscribe
// polls on its own.
type Feed struct {
	log        ChangeLog
	interval   time.Duration
	gapTimeout time.Duration
	retention  time.Duration
	logger     *slog.Logger
	now        func() time.Time
}

var _ cache.Feed = (*Feed)(nil)

// Option configures New.
type Option func(*Feed)

// WithInterval sets how often the change log is read (DefaultInterval):
// the bound on how long a change goes unseen.
func WithInterval(d time.Duration) Option { return func(f *Feed) { f.interval = d } }

// WithGapTimeout sets how long a gap in the change log's numbers is read
// again, waiting for a slow transaction to commit (DefaultGapTimeout).
func WithGapTimeout(d time.Duration) Option { return func(f *Feed) { f.gapTimeout = d } }

// WithRetention sets how old change-log entries get before the feed
// deletes them (DefaultRetention). It must be well above the interval: a
// process that falls further behind empties its cache instead.
func WithRetention(d time.Duration) Option { return func(f *Feed) { f.retention = d } }

// WithLogger sets where the feed logs lost and regained access to the
// change log (slog.Default() otherwise). It logs no key IDs.
func WithLogger(l *slog.Logger) Option { return func(f *Feed) { f.logger = l } }

// New returns a Feed on log, usually the *apikey.SQLStore the cache is in
// front of. It panics if log is nil or an option is out of range (an
// interval or gap timeout of zero or less, a retention below ten
// intervals), since that is a programming error found at start-up.
func New(log ChangeLog, opts ...Option) *Feed {
	if log == nil {
		panic("pollfeed: New called with a nil ChangeLog")
	}
	f := &Feed{log: log, interval: DefaultInterval, gapTimeout: DefaultGapTimeout,
		retention: DefaultRetention, logger: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(f)
	}
	switch {
	case f.interval <= 0:
		panic("pollfeed: WithInterval needs a positive duration")
	case f.gapTimeout <= 0:
		panic("pollfeed: WithGapTimeout needs a positive duration")
	case f.retention < 10*f.interval:
		panic("pollfeed: WithRetention needs at least ten intervals")
	}
	if f.logger == nil {
		f.logger = slog.New(slog.DiscardHandler)
	}
	return f
}

// Publish implements cache.Feed and does nothing: the database's triggers
// log every change.
func (f *Feed) Publish(context.Context, string) error { return nil }

// Subscribe implements cache.Feed: it reads the change log every interval
// and reports each changed key to h, until ctx is done.
func (f *Feed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	bo := backoff.Backoff{Min: f.interval, Max: max(f.interval, 30*time.Second)}
	var tr *tracker // nil until the log was first read
	up := false
	nextPrune := f.now().Add(f.pruneEvery())
	for {
		var err error
		if tr == nil {
			tr, err = f.start(ctx)
		} else {
			err = f.poll(ctx, tr, h)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			h.Disconnected(err)
			if up {
				f.logger.Warn("pollfeed: cannot read the change log; caches keep entries for their fallback TTL", "error", err)
			}
			up = false
			if !backoff.Sleep(ctx, bo.Next()) {
				return nil
			}
			continue
		}
		if !up {
			h.Connected()
			up = true
			bo.Reset()
		}
		if now := f.now(); now.After(nextPrune) {
			nextPrune = now.Add(f.pruneEvery())
			if reset := f.maintain(ctx, tr); reset {
				tr = nil // the log went back: start afresh, and empty caches
				up = false
				h.Disconnected(errors.New("pollfeed: the change log was reset"))
				continue
			}
		}
		if !backoff.Sleep(ctx, f.interval) {
			return nil
		}
	}
}

// pruneEvery is how often a process prunes the log: a quarter of the
// retention, spread so replicas do not all prune at once.
func (f *Feed) pruneEvery() time.Duration {
	q := f.retention / 4
	return q/2 + rand.N(q/2+1)
}

// start reads where the log stands. Entries already in it predate the
// Connected that follows, which empties the cache, so they are taken as
// read; gaps between the latest of them are watched like any other.
func (f *Feed) start(ctx context.Context) (*tracker, error) {
	last, err := f.log.LastChange(ctx)
	if err != nil {
		return nil, err
	}
	tr := &tracker{wm: last, max: last}
	recent, err := f.log.Changes(ctx, max(last-startWindow, 0), startWindow)
	if err != nil {
		return nil, err
	}
	if len(recent) > 0 {
		tr.wm, tr.max = recent[0].Seq-1, recent[0].Seq-1
		now := f.now()
		for _, c := range recent {
			tr.add(c.Seq, now)
		}
		tr.settle(now, f.gapTimeout)
	}
	return tr, nil
}

// poll reads every entry after the tracker's watermark and reports the
// new ones.
func (f *Feed) poll(ctx context.Context, tr *tracker, h cache.FeedHandler) error {
	now := f.now()
	after := tr.wm
	for {
		page, err := f.log.Changes(ctx, after, pageSize)
		if err != nil {
			return err
		}
		for _, c := range page {
			if tr.add(c.Seq, now) {
				h.Changed(c.KeyID)
			}
			after = c.Seq
		}
		if len(page) < pageSize {
			break
		}
	}
	tr.settle(now, f.gapTimeout)
	return nil
}

// maintain prunes old entries, and reports whether the log went back
// behind what was read (a table recreated or restored).
func (f *Feed) maintain(ctx context.Context, tr *tracker) (reset bool) {
	if _, err := f.log.PruneChanges(ctx, f.retention); err != nil && ctx.Err() == nil {
		f.logger.Warn("pollfeed: pruning the change log failed", "error", err)
	}
	last, err := f.log.LastChange(ctx)
	return err == nil && last < tr.max
}

// tracker knows which change-log entries were read. Every entry up to wm
// was read or given up; above it, up to max, the missing ones are gaps.
type tracker struct {
	wm, max int64
	gaps    []gap // ascending, disjoint
}

// gap is a run of missing entries, from..to, first noticed at since.
type gap struct {
	from, to int64
	since    time.Time
}

// add records entry seq and reports whether it is new.
func (t *tracker) add(seq int64, now time.Time) bool {
	if seq > t.max {
		if seq > t.max+1 {
			t.gaps = append(t.gaps, gap{t.max + 1, seq - 1, now})
		}
		t.max = seq
		return true
	}
	for i, g := range t.gaps {
		if seq < g.from || seq > g.to {
			continue
		}
		// A late commit fills part of the gap: split it.
		var parts []gap
		if seq > g.from {
			parts = append(parts, gap{g.from, seq - 1, g.since})
		}
		if seq < g.to {
			parts = append(parts, gap{seq + 1, g.to, g.since})
		}
		t.gaps = append(t.gaps[:i], append(parts, t.gaps[i+1:]...)...)
		return true
	}
	return false // read before
}

// settle gives up gaps older than timeout and moves the watermark up to
// the first gap left.
func (t *tracker) settle(now time.Time, timeout time.Duration) {
	kept := t.gaps[:0]
	for _, g := range t.gaps {
		if now.Sub(g.since) < timeout {
			kept = append(kept, g)
		}
	}
	t.gaps = kept
	if len(t.gaps) == 0 {
		t.wm = t.max
	} else {
		t.wm = t.gaps[0].from - 1
	}
}
