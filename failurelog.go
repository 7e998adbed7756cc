package apikey

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// unavailableError is a refusal because something the decision needs
// failed: the store, the rate limiter, the usage count. It is
// ErrStoreUnavailable to errors.Is, and unwraps to the failure itself.
type unavailableError struct {
	cause string // what failed, such as "key lookup"; a fixed text
	err   error
}

func (e *unavailableError) Error() string {
	return ErrStoreUnavailable.Error() + ": " + e.cause + ": " + e.err.Error()
}

func (e *unavailableError) Unwrap() []error { return []error{ErrStoreUnavailable, e.err} }

// unavailable returns the refusal for a failure of cause.
func unavailable(cause string, err error) error {
	return &unavailableError{cause: cause, err: err}
}

// failureLogEvery is how often the Manager logs the failures of one cause:
// the first at once, then at most one line per interval, counting the ones
// in between.
const failureLogEvery = 10 * time.Second

// failureLog logs the failures that make requests 503, so every 503 has a
// reason in the logs without a user wiring an observer, and a database
// outage under load writes a line per cause per interval, not one per
// request.
type failureLog struct {
	mu     sync.Mutex
	causes map[string]*failureCount
}

type failureCount struct {
	loggedAt time.Time // when the last line for this cause was written
	missed   int       // failures since, not logged yet
	last     error     // the latest of them
}

// note records a failure at now and logs it unless a line for its cause
// was written less than failureLogEvery ago.
func (f *failureLog) note(ctx context.Context, l *slog.Logger, cause string, err error, now time.Time) {
	f.mu.Lock()
	if f.causes == nil {
		f.causes = map[string]*failureCount{}
	}
	c := f.causes[cause]
	if c == nil {
		c = &failureCount{}
		f.causes[cause] = c
	}
	if since := now.Sub(c.loggedAt); !c.loggedAt.IsZero() && since >= 0 && since < failureLogEvery {
		c.missed++
		c.last = err
		f.mu.Unlock()
		return
	}
	n := c.missed + 1
	c.loggedAt, c.missed, c.last = now, 0, nil
	f.mu.Unlock()
	l.LogAttrs(ctx, slog.LevelError, "apikey: refusing requests with 503: "+cause+" failed",
		slog.String("cause", cause), slog.String("error", err.Error()), slog.Int("failures", n))
}

// flush logs the failures not logged yet, for Close.
func (f *failureLog) flush(l *slog.Logger) {
	f.mu.Lock()
	type pending struct {
		cause string
		n     int
		err   error
	}
	var out []pending
	for cause, c := range f.causes {
		if c.missed > 0 {
			out = append(out, pending{cause, c.missed, c.last})
			c.missed, c.last = 0, nil
		}
	}
	f.mu.Unlock()
	for _, p := range out {
		l.LogAttrs(context.Background(), slog.LevelError, "apikey: refusing requests with 503: "+p.cause+" failed",
			slog.String("cause", p.cause), slog.String("error", p.err.Error()), slog.Int("failures", p.n))
	}
}

// logFailure logs err through the Manager's logger if it is a refusal
// because something failed.
func (m *Manager) logFailure(ctx context.Context, err error) {
	var u *unavailableError
	if errors.As(err, &u) {
		m.failures.note(ctx, m.logger, u.cause, u.err, m.now())
	}
}
