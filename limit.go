package apikey

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// A Limiter counts the requests of each key in fixed windows of time, for
// rate limits (see [Key.RateLimit] and [WithDefaultRateLimit]). Windows
// start at multiples of their length since Go's zero time, as
// [time.Time.Truncate] rounds, so a window that divides a day starts on
// the clock (a one-minute window runs from :00 to :59) and limiters in
// several processes that share their counts, such as the Redis one in
// package redislimit, agree on where a window starts.
type Limiter interface {
	// Allow counts one request of the key id against limit, at time now,
	// and reports whether it is within the limit, with the window's state.
	// A request over the limit is not counted.
	Allow(ctx context.Context, id string, limit RateLimit, now time.Time) (LimitStatus, error)
}

// DefaultRateLimit returns the rate limit of keys that have none of their
// own (see WithDefaultRateLimit), or the zero RateLimit for none: what a
// key's zero RateLimit means, for comparing the limits of two keys.
func (m *Manager) DefaultRateLimit() RateLimit { return m.defaultLimit }

// LimitStatus is the state of a key's rate-limit window after a request,
// as the RateLimit-* response headers report it.
type LimitStatus struct {
	// Allowed is false when the request was over the limit.
	Allowed bool
	// Limit is the number of requests allowed per window.
	Limit int
	// Remaining is how many more requests the window allows.
	Remaining int
	// Reset is the time left until the window ends and the count restarts.
	Reset time.Duration
}

// RateLimitError is the error for a request over its key's rate limit. It
// wraps ErrRateLimited; use errors.As to read the limit's state, for example
// to compute Retry-After.
type RateLimitError struct {
	// Status is the key's window when the request was refused.
	Status LimitStatus
}

// Error says the limit was exceeded and when the next window starts.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%v: %d requests per window, next window in %v", ErrRateLimited, e.Status.Limit, e.Status.Reset)
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
	windows   map[string]*memoryWindow
	lastSweep time.Time
}

type memoryWindow struct {
	end   time.Time
	count int
}

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{windows: map[string]*memoryWindow{}}
}

// sweepEvery is how often Allow drops the entries of windows that ended.
const sweepEvery = time.Minute

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, id string, limit RateLimit, now time.Time) (LimitStatus, error) {
	if err := checkRateLimit(limit); err != nil || limit.IsZero() {
		return LimitStatus{}, fmt.Errorf("apikey: MemoryLimiter.Allow: %w", ErrInvalidInput)
	}
	_, end := windowOf(now, limit.Window)
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
	w := l.windows[id]
	if w == nil {
		w = &memoryWindow{}
		l.windows[id] = w
	}
	if !w.end.Equal(end) {
		w.end, w.count = end, 0 // a new window
	}
	st := LimitStatus{Limit: limit.Limit, Reset: end.Sub(now)}
	if w.count < limit.Limit {
		w.count++
		st.Allowed = true
	}
	st.Remaining = limit.Limit - w.count
	return st, nil
}

// Len returns the number of keys the limiter holds a window for.
func (l *MemoryLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}
