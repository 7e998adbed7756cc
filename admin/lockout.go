package admin

import (
	"context"
	"slices"
	"time"

	"github.com/go-apikey/apikey"
)

// msgLastAdmin answers a change that would leave no admin able to sign in.
const msgLastAdmin = "This is the last enabled admin key: without it nobody could manage keys here, " +
	"so it cannot be disabled, revoked or given new limits (allowed IPs, a rate limit, an expiry, a usage limit, a refill). " +
	"Create another admin key first"

// msgAdminRace answers a change undone because another, made at the same
// time, took the other admin key away.
const msgAdminRace = "Another change at the same time left no other enabled admin key, so this one was undone: nobody could have managed keys. Try again"

// usableAdmin reports whether k can sign an admin in at now: enabled,
// unexpired, with uses left, holding AdminScope.
func usableAdmin(k apikey.Key, now time.Time) bool {
	return k.State(now) == apikey.StateEnabled && slices.Contains(k.Scopes, apikey.AdminScope)
}

// adminKeptBy reports whether some admin can still sign in once the keys
// in gone are disabled or revoked: through a static key with AdminScope
// (configuration, which no change here can take away), as p itself when
// it is an admin the host signed in with its own login (apikey.NewContext,
// no key ID), or with a stored admin key outside gone that is usable and
// not rotated away (a rotated key stops at the end of its grace). It
// reads the store's keys in ID order until it finds one, so it usually
// stops at the first admin key made. None of this depends on whether p's
// own key is still stored: another admin may have just revoked it.
//
// It is a check before a change and again after it: two admins taking
// away the last two admin keys at once both pass the first check, and the
// later of the second checks finds no admin key left, so its change is
// undone (see handler.guard). Several processes serving the API on one
// store are covered alike, since both checks read the store.
func (h *handler) adminKeptBy(ctx context.Context, p apikey.Principal, gone map[string]bool) (bool, error) {
	if h.m.HasStaticScope(apikey.AdminScope) {
		return true, nil
	}
	if _, verified := apikey.SourceFromContext(ctx); !verified && p.KeyID == "" && p.HasScope(apikey.AdminScope) {
		return true, nil
	}
	now := time.Now()
	cursor := ""
	for {
		page, err := h.m.List(ctx, apikey.ListOptions{After: cursor, Limit: apikey.MaxListLimit})
		if err != nil {
			return false, err
		}
		for _, k := range page.Keys {
			if !gone[k.ID] && usableAdmin(k, now) && k.RotatedTo == "" {
				return true, nil
			}
		}
		if page.Next == "" {
			return false, nil
		}
		cursor = page.Next
	}
}

// adminsGone returns the IDs of the keys among before that are usable
// admin keys now and might not be after the change (after, by ID; a key
// missing from after is revoked). A key given new limits (see restricts)
// counts as gone: the change may lock its holder out (an address they are
// not at, one request a century, an expiry next week), and only they
// know.
func adminsGone(before []apikey.Key, after map[string]apikey.Key) map[string]bool {
	now := time.Now()
	var gone map[string]bool
	for _, k := range before {
		if a, ok := after[k.ID]; usableAdmin(k, now) && (!ok || !usableAdmin(a, now) || restricts(k, a)) {
			if gone == nil {
				gone = map[string]bool{}
			}
			gone[k.ID] = true
		}
	}
	return gone
}

// restricts reports whether after limits where, how often or how long its
// key can be used more than before did: new allowed IPs, a new rate limit
// of its own, a named limit tighter than any before, an earlier expiry,
// fewer uses, a refill that may give fewer. Lifting any of them restricts
// nothing.
func restricts(before, after apikey.Key) bool {
	return len(after.AllowedIPs) > 0 && !slices.Equal(after.AllowedIPs, before.AllowedIPs) ||
		!after.RateLimit.IsZero() && after.RateLimit != before.RateLimit ||
		namedLimitsRestrict(before, after.RateLimits) ||
		!after.ExpiresAt.IsZero() && (before.ExpiresAt.IsZero() || after.ExpiresAt.Before(before.ExpiresAt)) ||
		after.RemainingUses != nil && (before.RemainingUses == nil || *after.RemainingUses < *before.RemainingUses) ||
		after.RemainingUses != nil && refillRestricts(before.Refill, after.Refill)
}

// namedLimitsRestrict reports whether one of limits is tighter, in burst
// or in rate, than every limit before had: a request before let through
// may be refused.
func namedLimitsRestrict(before apikey.Key, limits []apikey.RateLimit) bool {
	had := before.RateLimits
	if !before.RateLimit.IsZero() {
		had = append([]apikey.RateLimit{before.RateLimit}, had...)
	}
	for _, l := range limits {
		if !slices.ContainsFunc(had, func(b apikey.RateLimit) bool { return rateExceeded(b, l) == "" }) {
			return true
		}
	}
	return false
}

// refillRestricts reports whether a key's uses may come back fewer or
// later with after than with before: a refill stopped, a smaller amount,
// no more rolling over, a longer or shifted period, or a new refill that
// sets the uses (rather than adds to them).
func refillRestricts(before, after *apikey.Refill) bool {
	switch {
	case after == nil:
		return before != nil
	case before == nil:
		return !after.RollOver
	}
	return after.Amount < before.Amount || before.RollOver && !after.RollOver ||
		after.Interval != before.Interval && after.Interval == apikey.RefillMonthly ||
		after.Interval == apikey.RefillMonthly && after.Day != before.Day
}
