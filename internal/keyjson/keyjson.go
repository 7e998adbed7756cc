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
	State         apikey.KeyState `json:"state"`
	Enabled       bool            `json:"enabled"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	ExpiresAt     *time.Time      `json:"expires_at"`
	LastUsedAt    *time.Time      `json:"last_used_at"`
	RateLimit     *RateLimit      `json:"rate_limit"`
	AllowedIPs    []string        `json:"allowed_ips"`
	RemainingUses *int64          `json:"remaining_uses"`
	RotatedTo     *string         `json:"rotated_to"`
	// CreatedBy is the ID of the key whose holder had this one made, by
	// creating it or rotating another key into it; null for an operator's.
	CreatedBy *string `json:"created_by"`
	// DisabledBy is the ID of the key whose holder disabled this one;
	// null when it is enabled or an operator disabled it.
	DisabledBy *string `json:"disabled_by"`
}

// RateLimit is a rate limit: Limit requests per Window, printed as a Go
// duration ("1m0s") and read by ParseDuration ("1m", "1h30m", "1d").
type RateLimit struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// From returns k as JSON, with its state at now.
func From(k apikey.Key, now time.Time) Key {
	j := Key{
		ID: k.ID, Owner: k.Owner, Name: k.Name, Description: k.Description,
		Scopes: k.Scopes, Metadata: k.Metadata, Start: k.Start,
		State: k.State(now), Enabled: k.Enabled,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
		AllowedIPs:    make([]string, len(k.AllowedIPs)),
		RemainingUses: k.RemainingUses,
	}
	if j.Scopes == nil {
		j.Scopes = []string{}
	}
	if j.Metadata == nil {
		j.Metadata = map[string]string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt.UTC()
		j.ExpiresAt = &t
	}
	if !k.LastUsedAt.IsZero() {
		t := k.LastUsedAt.UTC()
		j.LastUsedAt = &t
	}
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
