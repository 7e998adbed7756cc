package apikey

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// Event describes one verification decision, for metrics and audit logs
// (see [WithObserver]). It never holds the key itself.
type Event struct {
	// KeyID identifies the key when one was found (even if it was then
	// refused, for example as disabled), and is empty otherwise.
	KeyID string
	// Owner is the found key's owner, or empty.
	Owner string
	// Err is nil when the request was let through, and otherwise the reason
	// it was refused (ErrMissingKey, ErrKeyDisabled, ErrRateLimited...).
	Err error
	// ClientIP is the client address when it was worked out (for keys with
	// AllowedIPs, or always when the middleware has an observer), else zero.
	ClientIP netip.Addr
	// Latency is how long the decision took.
	Latency time.Duration
}

// WithObserver calls observe for every decision the Manager makes: each
// Verify and VerifyFrom, each request the middleware refuses before
// verification (missing, malformed or conflicting keys), and each request
// that RequireScopes refuses after the middleware let it through (a second
// event for that request, with ErrInsufficientScope). observe runs on the
// request's goroutine: keep it quick. Without an observer the hot path does
// no extra work.
func WithObserver(observe func(context.Context, Event)) Option {
	return func(m *Manager) { m.observe = observe }
}

// SlogObserver returns an observer that logs each decision to l: refusals
// at Info with the reason, successes at Debug. Keys are never logged.
func SlogObserver(l *slog.Logger) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		level, outcome := slog.LevelDebug, "allowed"
		attrs := []slog.Attr{slog.String("outcome", outcome)}
		if e.Err != nil {
			level = slog.LevelInfo
			attrs[0] = slog.String("outcome", "refused")
			attrs = append(attrs, slog.String("reason", e.Err.Error()))
		}
		if e.KeyID != "" {
			attrs = append(attrs, slog.String("key_id", e.KeyID), slog.String("owner", e.Owner))
		}
		if e.ClientIP.IsValid() {
			attrs = append(attrs, slog.String("client_ip", e.ClientIP.String()))
		}
		attrs = append(attrs, slog.Duration("latency", e.Latency))
		l.LogAttrs(ctx, level, "apikey: request "+attrs[0].Value.String(), attrs...)
	}
}
