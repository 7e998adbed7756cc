package apikey

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A Limiter counts requests in fixed windows of time, for rate limits
// (see [Key.RateLimit], [Key.RateLimits] and [WithDefaultRateLimit]).
// Windows start at multiples of their length since Go's zero time, as
// [time.Time.Truncate] rounds, so a window that divides a day starts on
// the clock (a one-minute window runs from :00 to :59) and limiters in
// several processes that share their counts, such as the Redis one in
// package redislimit, agree on where a window starts.
type Limiter interface {
	// Allow counts a request of the given cost (1 or more) against every
	// bucket, at time now, in one atomic step: it counts it in all of them
	// when each has room for the whole cost, and in none otherwise, so a
	// refused request counts against no limit. It reports the outcome with
	// the state of the bucket closest to refusal; when the request is
	// refused, Reset is the time until every bucket that had no room has
	// room again.
	Allow(ctx context.Context, buckets []Bucket, cost int, now time.Time) (LimitStatus, error)
}

// A Bucket is one rate limit and what it counts: the requests of one key
// (ID is the key's ID), or of every key of one owner (ID is "owner:" and
// the owner). Two buckets with one ID and one window share a count.
type Bucket struct {
	// ID names what is counted.
	ID string
	// Limit is the limit counted: Limit requests per Window.
	Limit RateLimit
}

// DefaultRateLimit returns the rate limit of keys that have none of their
// own (see WithDefaultRateLimit), or the zero RateLimit for none: what a
// key's zero RateLimit means, for comparing the limits of two keys.
func (m *Manager) DefaultRateLimit() RateLimit { return m.defaultLimit }

// LimitStatus is the state of a key's rate limits after a request, as the
// RateLimit-* response headers report it: the limit closest to refusal.
type LimitStatus struct {
	// Allowed is false when the request was over a limit.
	Allowed bool
	// Name is the name of the limit described (RateLimit.Name).
	Name string
	// Limit is the number of requests that limit allows per window.
	Limit int
	// Remaining is how many more requests its window allows.
	Remaining int
	// Reset is the time left until its window ends and the count
	// restarts; for a refused request, until every exhausted limit has
	// room again.
	Reset time.Duration
}

// RateLimitError is the error for a request over its key's rate limit. It
// wraps ErrRateLimited; use errors.As to read the limit's state, for example
// to compute Retry-After.
type RateLimitError struct {
	// Status is the key's window when the request was refused.
	Status LimitStatus
}

// Error says which limit was exceeded and when every exhausted limit has
// room again.
func (e *RateLimitError) Error() string {
	name := ""
	if e.Status.Name != "" {
		name = " (" + e.Status.Name + ")"
	}
	return fmt.Sprintf("%v%s: %d requests per window, room again in %v", ErrRateLimited, name, e.Status.Limit, e.Status.Reset)
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// windowOf returns when the fixed window holding now started and ended.
func windowOf(now time.Time, window time.Duration) (start, end time.Time) {
	start = now.Truncate(window)
	return start, start.Add(window)
}

// MemoryLimiter is a Limiter that counts in this process's memory: exact,
// safe for concurrent use, and holding one small entry per key that made a
// request in its current window (older entries are swept). With several
// replicas, each counts alone, so a key may make up to limit requests per
// window on each; use a shared Limiter such as package redislimit to hold
// the limit across replicas.
type MemoryLimiter struct {
	mu        sync.Mutex
	windows   map[windowKey]*memoryWindow
	lastSweep time.Time
}

// windowKey names a window: what it counts, and its length.
type windowKey struct {
	id     string
	window time.Duration
}

type memoryWindow struct {
	end   time.Time
	count int
}

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{windows: map[windowKey]*memoryWindow{}}
}

// sweepEvery is how often Allow drops the entries of windows that ended.
const sweepEvery = time.Minute

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, buckets []Bucket, cost int, now time.Time) (LimitStatus, error) {
	if err := checkBuckets(buckets, cost); err != nil {
		return LimitStatus{}, fmt.Errorf("apikey: MemoryLimiter.Allow: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		for k, w := range l.windows {
			if !now.Before(w.end) {
				delete(l.windows, k)
			}
		}
		l.lastSweep = now
	}
	var (
		ws    [4]*memoryWindow
		ends  [4]time.Time
		wins  = ws[:0]
		endOf = ends[:0]
		fits  = true
	)
	for _, b := range buckets {
		_, end := windowOf(now, b.Limit.Window)
		name := windowKey{b.ID, b.Limit.Window}
		w := l.windows[name]
		if w == nil {
			w = &memoryWindow{}
			l.windows[name] = w
		}
		if !w.end.Equal(end) {
			w.end, w.count = end, 0 // a new window
		}
		if cost > b.Limit.Limit-w.count { // w.count+cost may overflow
			fits = false
		}
		wins, endOf = append(wins, w), append(endOf, end)
	}
	if fits {
		for i, w := range wins {
			// Two limits with one window share its count: count once.
			if !slices.Contains(wins[:i], w) {
				w.count += cost
			}
		}
	}
	counts := make([]int, 0, 4)
	for _, w := range wins {
		counts = append(counts, w.count)
	}
	return statusOf(buckets, counts, endOf, cost, fits, now), nil
}

// statusOf reports a request's outcome from its buckets' counts after it:
// the bucket closest to refusal (the fewest requests left, then the
// soonest reset) and, for a refused request, how long until every bucket
// without room for cost has it again.
func statusOf(buckets []Bucket, counts []int, ends []time.Time, cost int, allowed bool, now time.Time) LimitStatus {
	st := LimitStatus{Allowed: allowed}
	first := true
	var wait time.Duration
	for i, b := range buckets {
		left := b.Limit.Limit - counts[i]
		reset := ends[i].Sub(now)
		if first || left < st.Remaining || left == st.Remaining && reset < st.Reset {
			st.Name, st.Limit, st.Remaining, st.Reset = b.Limit.Name, b.Limit.Limit, left, reset
			first = false
		}
		if !allowed && cost > b.Limit.Limit-counts[i] {
			wait = max(wait, reset)
		}
	}
	st.Remaining = max(st.Remaining, 0)
	if !allowed {
		st.Reset = wait
	}
	return st
}

// checkBuckets refuses what no Limiter can count.
func checkBuckets(buckets []Bucket, cost int) error {
	if len(buckets) == 0 || cost < 1 {
		return fmt.Errorf("%w: no buckets, or a cost below 1", ErrInvalidInput)
	}
	for _, b := range buckets {
		if b.ID == "" || b.Limit.IsZero() || checkRateLimit(b.Limit) != nil {
			return fmt.Errorf("%w: bucket %q with limit %d per %v", ErrInvalidInput, b.ID, b.Limit.Limit, b.Limit.Window)
		}
	}
	return nil
}

// Len returns the number of keys the limiter holds a window for.
func (l *MemoryLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}
