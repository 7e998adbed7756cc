package admin

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-apikey/apikey"
)

// bounds are what a principal without AdminScope may give a key it
// creates, changes or rotates: no more than its own key has. A principal
// with AdminScope has no bounds (nil).
type bounds struct {
	p apikey.Principal
	// key is the caller's stored key, when stored is true.
	key    apikey.Key
	stored bool
	// static is true for a key the middleware verified that the store
	// does not hold (a static key, or one revoked since): it has no record
	// to bound a key by, so it may give no key anything.
	static bool
	// defaultLimit is the Manager's rate limit for keys without one.
	defaultLimit apikey.RateLimit
}

// boundsOf returns p's bounds, read from the store at the time of the
// request: nil for an admin. A principal the host put on the context
// itself (apikey.NewContext after its own login), with no stored key, is
// the account holder the host vouches for: it is bounded by its scopes
// only.
func (h *handler) boundsOf(ctx context.Context, p apikey.Principal) (*bounds, error) {
	if p.HasScope(apikey.AdminScope) {
		return nil, nil
	}
	b := &bounds{p: p, defaultLimit: h.m.DefaultRateLimit()}
	if p.KeyID != "" {
		k, err := h.m.Get(ctx, p.KeyID)
		switch {
		case err == nil:
			b.key, b.stored = k, true
			return b, nil
		case !errors.Is(err, apikey.ErrNotFound):
			return nil, err
		}
	}
	_, verified := apikey.SourceFromContext(ctx)
	b.static = verified
	return b, nil
}

// exceeded says which of b a key k goes beyond, as a message for a 403,
// or "" when k is within b. It compares the whole key, not only the
// fields a request sets: the key as it would be stored must be one the
// caller could have made.
func (b *bounds) exceeded(k apikey.Key) string {
	if b == nil {
		return ""
	}
	if b.static {
		return "Your key is not a stored key (a static key), so it has no limits to give another key: use a stored key, or an admin key"
	}
	for _, s := range k.Scopes {
		if !b.p.HasScope(s) {
			return fmt.Sprintf("The key would have scope %q, which your key lacks", s)
		}
	}
	if !b.stored {
		return ""
	}
	c := b.key
	if c.RemainingUses != nil {
		left := *c.RemainingUses
		if k.RemainingUses == nil {
			return fmt.Sprintf("Your key has a usage limit (%d uses left), so this key needs one of at most %d uses (max_uses or remaining_uses)", left, left)
		}
		if *k.RemainingUses > left {
			return fmt.Sprintf("The key would have %d uses, more than the %d your key has left", *k.RemainingUses, left)
		}
	}
	if msg := b.refillExceeded(k.Refill); msg != "" {
		return msg
	}
	if msg := b.limitsExceeded(k); msg != "" {
		return msg
	}
	if !c.ExpiresAt.IsZero() && (k.ExpiresAt.IsZero() || k.ExpiresAt.After(c.ExpiresAt)) {
		return "Your key expires at " + c.ExpiresAt.UTC().Format(time.RFC3339) + ", so this key must expire by then (expires_at or ttl)"
	}
	if len(c.AllowedIPs) > 0 {
		if len(k.AllowedIPs) == 0 {
			return "Your key works only from " + prefixList(c.AllowedIPs) + ", so this key must be limited to those addresses too (allowed_ips)"
		}
		for _, p := range k.AllowedIPs {
			if !within(p, c.AllowedIPs) {
				return "allowed_ips: " + p.String() + " is outside your key's " + prefixList(c.AllowedIPs)
			}
		}
	}
	return ""
}

// refillExceeded says how refill r gives more than the caller's key, or
// "": a key with a usage limit may give a refill no bigger and no more
// often than its own.
func (b *bounds) refillExceeded(r *apikey.Refill) string {
	c := b.key
	if r == nil || c.RemainingUses == nil {
		return ""
	}
	own := c.Refill
	switch {
	case own == nil:
		return "Your key's uses never refill, so this key's may not either (refill)"
	case r.Interval != own.Interval || r.Day != own.Day:
		return fmt.Sprintf("refill: your key's uses refill %s, so this key's may refill only then", refillText(*own))
	case r.Amount > own.Amount:
		return fmt.Sprintf("refill: %d uses is more than the %d your key's refill gives", r.Amount, own.Amount)
	case r.RollOver && !own.RollOver:
		return "refill: your key's unused uses do not roll over, so this key's may not (roll_over)"
	}
	return ""
}

func refillText(r apikey.Refill) string {
	if r.Interval == apikey.RefillMonthly {
		return fmt.Sprintf("monthly on day %d", r.Day)
	}
	return string(r.Interval)
}

// limitsExceeded says how k's rate limits are looser than the caller's
// key's, or "": each limit of the caller's (its own RateLimit, or the
// Manager's default, and its named ones) must be met by one of k's no
// looser than it, so that k can never be let through faster than the
// caller's key.
func (b *bounds) limitsExceeded(k apikey.Key) string {
	own := b.limitsOf(b.key)
	mine := b.limitsOf(k)
	for _, c := range own {
		msg := rateExceeded(apikey.RateLimit{}, c)
		for _, l := range mine {
			if msg = rateExceeded(l, c); msg == "" {
				break
			}
		}
		if msg != "" {
			if len(own) > 1 || len(mine) > 1 {
				return fmt.Sprintf("Your key is rate limited (%d per %s), so this key needs a limit no looser (rate_limit or rate_limits)", c.Limit, c.Window)
			}
			return msg
		}
	}
	return ""
}

// limitsOf lists the rate limits a request of k counts against.
func (b *bounds) limitsOf(k apikey.Key) []apikey.RateLimit {
	var out []apikey.RateLimit
	if r := b.effective(k.RateLimit); !r.IsZero() && (!k.RateLimit.IsZero() || len(k.RateLimits) == 0) {
		out = append(out, r)
	}
	return append(out, k.RateLimits...)
}

// effective is the rate limit a key's own RateLimit means: its own, or the
// Manager's default.
func (b *bounds) effective(r apikey.RateLimit) apikey.RateLimit {
	if r.IsZero() {
		return b.defaultLimit
	}
	return r
}

// rateExceeded says how limit k is looser than limit c, or "". A limit is
// looser when it allows a higher rate (limit/window) or a bigger burst
// (limit) than c; no limit is looser than any.
func rateExceeded(k, c apikey.RateLimit) string {
	if c.IsZero() {
		return ""
	}
	own := fmt.Sprintf("%d per %s", c.Limit, c.Window)
	if k.IsZero() {
		return "Your key is rate limited (" + own + "), so this key needs a rate limit no looser (rate_limit)"
	}
	// k.Limit/k.Window > c.Limit/c.Window, in 128 bits: a limit of 2^62
	// times a window of years overflows int64.
	kh, kl := bits.Mul64(uint64(k.Limit), uint64(c.Window))
	ch, cl := bits.Mul64(uint64(c.Limit), uint64(k.Window))
	if k.Limit > c.Limit || kh > ch || kh == ch && kl > cl {
		return fmt.Sprintf("rate_limit: %d per %s is looser than your key's %s", k.Limit, k.Window, own)
	}
	return ""
}

// within reports whether every address of p is in one of prefixes.
func within(p netip.Prefix, prefixes []netip.Prefix) bool {
	p = p.Masked()
	for _, q := range prefixes {
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func prefixList(prefixes []netip.Prefix) string {
	s := make([]string, len(prefixes))
	for i, p := range prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// DefaultMaxGrace is the longest rotation grace a principal without
// apikey.AdminScope may ask for, unless WithMaxGrace says otherwise.
const DefaultMaxGrace = 24 * time.Hour

// WithMaxGrace sets the longest grace period (how long the old key keeps
// working) that a principal without apikey.AdminScope may give a
// rotation; a longer one answers 403. The default is DefaultMaxGrace;
// zero allows none. It bounds how long a leaked key, rotated by whoever
// holds it, outlives the rotation. It panics if d is negative.
func WithMaxGrace(d time.Duration) Option {
	if d < 0 {
		panic("admin: WithMaxGrace given a negative duration")
	}
	return func(h *handler) { h.maxGrace = d }
}

// graceText shows a grace period for messages: "24h", not "24h0m0s".
func graceText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// keyRef is p's key ID as another key's record can keep it (CreatedBy,
// DisabledBy): "" for a principal whose ID no store could hold, which a
// host's own principal may have.
func keyRef(p apikey.Principal) string {
	if len(p.KeyID) > 64 || !utf8.ValidString(p.KeyID) || strings.IndexFunc(p.KeyID, unicode.IsControl) >= 0 {
		return ""
	}
	return p.KeyID
}
