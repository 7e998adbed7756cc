// Package keyjson is the one JSON form of a key that the admin API and the
// apikey command print, so scripts can read either the same way, and the
// values both read in one syntax (ParseDuration, ParsePrefix). It never
// has a field for the digest or the hasher: nothing printed can help find
// a key.
package keyjson

import (
	"time"

	"github.com/go-apikey/apikey"
)

// Key is a key as JSON. Absent values are null, empty lists [] and empty
// metadata {}, so every field is always there.
type Key struct {
	ID          string            `json:"id"`
	Owner       string            `json:"owner"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Scopes      []string          `json:"scopes"`
	Metadata    map[string]string `json:"metadata"`
	// Start is the non-secret beginning of the key, such as "ak_4qGZ".
	Start string `json:"start"`
	// State is enabled, disabled, expired or exhausted (no uses left).
	State      apikey.KeyState `json:"state"`
	Enabled    bool            `json:"enabled"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	ExpiresAt  *time.Time      `json:"expires_at"`
	LastUsedAt *time.Time      `json:"last_used_at"`
	RateLimit  *RateLimit      `json:"rate_limit"`
	// RateLimits are the key's named limits, [] for none.
	RateLimits []RateLimit `json:"rate_limits"`
	AllowedIPs []string    `json:"allowed_ips"`
	// RemainingUses are the uses the key has now, counting a refill due
	// since it last spent one (which its next use makes); nil for no
	// usage limit.
	RemainingUses *int64 `json:"remaining_uses"`
	// Refill gives the key its uses again every period; RefilledAt is the
	// start of the period its uses were last refilled for, a refill due
	// counted as RemainingUses counts it, and NextRefillAt when the next
	// period starts.
	Refill       *Refill    `json:"refill"`
	RefilledAt   *time.Time `json:"refilled_at"`
	NextRefillAt *time.Time `json:"next_refill_at"`
	// UsesSpent counts the uses the key has spent in all.
	UsesSpent int64   `json:"uses_spent"`
	RotatedTo *string `json:"rotated_to"`
	// CreatedBy is the ID of the key whose holder had this one made, by
	// creating it or rotating another key into it; null for an operator's.
	CreatedBy *string `json:"created_by"`
	// DisabledBy is the ID of the key whose holder disabled this one;
	// null when it is enabled or an operator disabled it.
	DisabledBy *string `json:"disabled_by"`
}

// RateLimit is a rate limit: Limit requests per Window, printed as a Go
// duration ("1m0s") and read by ParseDuration ("1m", "1h30m", "1d"). Name
// is required in a list of named limits and left out otherwise.
type RateLimit struct {
	Name   string `json:"name,omitempty"`
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// Refill gives uses again every period: Amount at 00:00 UTC every day
// ("daily"), or on Day of every month ("monthly"); RollOver adds Amount to
// what is left instead of setting the uses to it.
type Refill struct {
	Amount   int64  `json:"amount"`
	Interval string `json:"interval"`
	Day      int    `json:"day,omitempty"`
	RollOver bool   `json:"roll_over"`
}

// Owner is an owner's policy as JSON: the limits and uses all of the
// owner's keys share, and how many live keys it may have. RemainingUses,
// RefilledAt and NextRefillAt are read as a key's are.
type Owner struct {
	Owner         string      `json:"owner"`
	RateLimits    []RateLimit `json:"rate_limits"`
	RemainingUses *int64      `json:"remaining_uses"`
	Refill        *Refill     `json:"refill"`
	RefilledAt    *time.Time  `json:"refilled_at"`
	NextRefillAt  *time.Time  `json:"next_refill_at"`
	UsesSpent     int64       `json:"uses_spent"`
	// MaxKeys is how many live keys the owner may have; 0 for any number.
	MaxKeys   int       `json:"max_keys"`
	UpdatedAt time.Time `json:"updated_at"`
}

// FromOwner returns p as JSON, with its uses at now.
func FromOwner(p apikey.OwnerPolicy, now time.Time) Owner {
	o := Owner{
		Owner: p.Owner, RateLimits: FromRateLimits(p.RateLimits), Refill: FromRefill(p.Refill),
		UsesSpent: p.UsesSpent, MaxKeys: p.MaxKeys, UpdatedAt: p.UpdatedAt.UTC(),
	}
	o.RemainingUses, o.RefilledAt, o.NextRefillAt = usesAt(p.RemainingUses, p.Refill, p.RefilledAt, now)
	return o
}

// usesAt returns uses, the time they were refilled and the next refill
// as they are at now: a refill due since refilledAt is counted as the
// next spend makes it (the core's own rule, which the stores apply).
func usesAt(uses *int64, r *apikey.Refill, refilledAt, now time.Time) (*int64, *time.Time, *time.Time) {
	if uses == nil || r == nil {
		return uses, optTime(refilledAt), NextRefill(r, now)
	}
	left := r.UsesAt(*uses, refilledAt, now)
	if period := r.PeriodStart(now); refilledAt.Before(period) {
		refilledAt = period
	}
	return &left, optTime(refilledAt), optTime(r.NextRefill(now))
}

// NextRefill returns when the refill period after the one holding now
// starts, nil for no refill.
func NextRefill(r *apikey.Refill, now time.Time) *time.Time {
	if r == nil {
		return nil
	}
	t := r.NextRefill(now)
	return &t
}

// FromRateLimits returns limits as JSON, [] for none.
func FromRateLimits(limits []apikey.RateLimit) []RateLimit {
	out := make([]RateLimit, len(limits))
	for i, r := range limits {
		out[i] = RateLimit{Name: r.Name, Limit: r.Limit, Window: r.Window.String()}
	}
	return out
}

// FromRefill returns r as JSON, nil for none.
func FromRefill(r *apikey.Refill) *Refill {
	if r == nil {
		return nil
	}
	return &Refill{Amount: r.Amount, Interval: string(r.Interval), Day: r.Day, RollOver: r.RollOver}
}

// ToRefill reads a Refill; the Manager checks its values.
func ToRefill(r Refill) *apikey.Refill {
	return &apikey.Refill{Amount: r.Amount, Interval: apikey.RefillInterval(r.Interval), Day: r.Day, RollOver: r.RollOver}
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// From returns k as JSON, with its state at now.
func From(k apikey.Key, now time.Time) Key {
	j := Key{
		ID: k.ID, Owner: k.Owner, Name: k.Name, Description: k.Description,
		Scopes: k.Scopes, Metadata: k.Metadata, Start: k.Start,
		State: k.State(now), Enabled: k.Enabled,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
		AllowedIPs: make([]string, len(k.AllowedIPs)),
		RateLimits: FromRateLimits(k.RateLimits),
		Refill:     FromRefill(k.Refill),
		UsesSpent:  k.UsesSpent,
	}
	j.RemainingUses, j.RefilledAt, j.NextRefillAt = usesAt(k.RemainingUses, k.Refill, k.RefilledAt, now)
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if j.Metadata == nil {
		j.Metadata = map[string]string{}
	}
	j.ExpiresAt = optTime(k.ExpiresAt)
	j.LastUsedAt = optTime(k.LastUsedAt)
	if !k.RateLimit.IsZero() {
		j.RateLimit = &RateLimit{Limit: k.RateLimit.Limit, Window: k.RateLimit.Window.String()}
	}
	for i, p := range k.AllowedIPs {
		j.AllowedIPs[i] = p.String()
	}
	if k.RotatedTo != "" {
		j.RotatedTo = &k.RotatedTo
	}
	if k.CreatedBy != "" {
		j.CreatedBy = &k.CreatedBy
	}
	if k.DisabledBy != "" {
		j.DisabledBy = &k.DisabledBy
	}
	return j
}
