package apikey

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkRateLimit refuses a half-set or negative limit.
func checkRateLimit(r RateLimit) error {
	if r.IsZero() {
		return nil
	}
	if r.Limit <= 0 || r.Window < time.Millisecond {
		return fmt.Errorf("%w: a rate limit needs a positive limit and a window of at least 1ms", ErrInvalidInput)
	}
	return nil
}

// maxRateLimits bounds a key's named limits: each is a counter every
// request of the key updates.
const maxRateLimits = 8

// checkRateLimits refuses named limits that are invalid, unnamed, named
// twice or too many, naming the limit at fault.
func checkRateLimits(limits []RateLimit) error {
	if len(limits) > maxRateLimits {
		return fmt.Errorf("%w: at most %d rate limits", ErrInvalidInput, maxRateLimits)
	}
	for i, r := range limits {
		if err := checkText("rate limit name", r.Name, 64, false); err != nil {
			return err
		}
		switch {
		case r.Name == "":
			return fmt.Errorf("%w: rate limit %d has no name", ErrInvalidInput, i+1)
		case r.IsZero() || checkRateLimit(r) != nil:
			return fmt.Errorf("%w: rate limit %q needs a positive limit and a window of at least 1ms", ErrInvalidInput, r.Name)
		case slices.ContainsFunc(limits[:i], func(o RateLimit) bool { return o.Name == r.Name }):
			return fmt.Errorf("%w: two rate limits are named %q", ErrInvalidInput, r.Name)
		}
	}
	return nil
}

// cleanRateLimits returns limits as stored: windows at microsecond
// precision (what SQL stores keep), nil for none.
func cleanRateLimits(limits []RateLimit) []RateLimit {
	if len(limits) == 0 {
		return nil
	}
	out := slices.Clone(limits)
	for i := range out {
		out[i].Window = out[i].Window.Truncate(time.Microsecond)
	}
	return out
}

// Limits on the fields of a NewKey.
const (
	maxOwnerLen       = 256
	maxNameLen        = 256
	maxDescriptionLen = 4096
	maxScopes         = 100
	maxScopeLen       = 128
	maxMetadata       = 64
	maxMetadataKeyLen = 128
	maxMetadataValLen = 1024
	maxAllowedIPs     = 100
)

// maskPrefixes returns prefixes as CanonicalPrefix gives them, so 10.1.2.3/8
// is stored as the 10.0.0.0/8 it means, and ::ffff:192.0.2.0/120 as
// 192.0.2.0/24. checkPrefixes has refused those it cannot give.
func maskPrefixes(prefixes []netip.Prefix) []netip.Prefix {
	if len(prefixes) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		out[i], _ = CanonicalPrefix(p)
	}
	return out
}

func checkNewKey(nk *NewKey, now time.Time) ([]string, error) {
	if nk.Owner == "" {
		return nil, fmt.Errorf("%w: owner is required", ErrInvalidInput)
	}
	if err := checkText("owner", nk.Owner, maxOwnerLen, false); err != nil {
		return nil, err
	}
	if err := checkText("name", nk.Name, maxNameLen, false); err != nil {
		return nil, err
	}
	if err := checkText("description", nk.Description, maxDescriptionLen, true); err != nil {
		return nil, err
	}
	scopes, err := CleanScopes(nk.Scopes)
	if err != nil {
		return nil, err
	}
	if err := checkMetadata(nk.Metadata); err != nil {
		return nil, err
	}
	if err := checkRateLimit(nk.RateLimit); err != nil {
		return nil, err
	}
	if err := checkRateLimits(nk.RateLimits); err != nil {
		return nil, err
	}
	if err := checkRefill(nk.Refill); err != nil {
		return nil, err
	}
	if err := checkPrefixes(nk.AllowedIPs); err != nil {
		return nil, err
	}
	if err := checkUses("MaxUses", nk.MaxUses); err != nil {
		return nil, err
	}
	if err := checkKeyRef("CreatedBy", nk.CreatedBy); err != nil {
		return nil, err
	}
	nk.ExpiresAt = nk.ExpiresAt.UTC().Truncate(time.Microsecond)
	nk.RateLimit.Window = nk.RateLimit.Window.Truncate(time.Microsecond)
	if !nk.ExpiresAt.IsZero() && !nk.ExpiresAt.After(now) {
		return nil, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalidInput, nk.ExpiresAt.Format(time.RFC3339))
	}
	return scopes, nil
}

// checkText refuses invalid UTF-8, control characters (but newlines and
// tabs where multiline is true) and text longer than max bytes.
func checkText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidInput, field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidInput, field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalidInput, field)
		}
	}
	return nil
}

// CleanScopes checks scopes and returns them without duplicates, in their
// first order. A scope is 1 to 128 printable characters with no spaces and
// no commas, such as "bots:read". It returns an error wrapping
// ErrInvalidInput for anything else.
func CleanScopes(scopes []string) ([]string, error) {
	if len(scopes) > maxScopes {
		return nil, fmt.Errorf("%w: at most %d scopes", ErrInvalidInput, maxScopes)
	}
	var out []string
	for _, s := range scopes {
		if s == "" || len(s) > maxScopeLen {
			return nil, fmt.Errorf("%w: scope %q must be 1 to %d bytes", ErrInvalidInput, s, maxScopeLen)
		}
		if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
			return r == ',' || unicode.IsSpace(r) || !unicode.IsPrint(r)
		}) >= 0 {
			return nil, fmt.Errorf("%w: scope %q must be printable, with no spaces or commas", ErrInvalidInput, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return slices.Clip(out), nil
}

// checkID answers ErrNotFound for an ID no store could hold (not 1 to 64
// bytes of UTF-8 without control characters), so stores only ever see
// well-formed IDs: SQL databases reject some byte sequences with errors of
// their own, which would read as a store failure. An ID that holds a key
// is refused first, without a word of it: the error would carry the key
// (stores name the ID they did not find) into logs and terminals.
func checkID(id string) error {
	if LooksLikeKey(id) || partOfKey(id) {
		return fmt.Errorf("%w: that looks like a key, not an ID", ErrNotFound)
	}
	if id == "" || len(id) > 64 || checkText("id", id, 64, false) != nil {
		return fmt.Errorf("%w: ID %q", ErrNotFound, id)
	}
	return nil
}

func checkStaticKey(k StaticKey) error {
	if len(k.Key) < minStaticKeyLen || len(k.Key) > maxStaticKeyLen {
		return fmt.Errorf("%w: static key %s must be %d to %d characters", ErrInvalidInput, k.ID, minStaticKeyLen, maxStaticKeyLen)
	}
	for i := 0; i < len(k.Key); i++ {
		if c := k.Key[i]; c <= ' ' || c > '~' || c == ',' {
			return fmt.Errorf("%w: static key %s must be printable ASCII without spaces or commas", ErrInvalidInput, k.ID)
		}
	}
	if k.ID == "" || k.Owner == "" {
		return fmt.Errorf("%w: static key needs an ID and an owner", ErrInvalidInput)
	}
	if _, err := CleanScopes(k.Scopes); err != nil {
		return err
	}
	if err := checkPrefixes(k.AllowedIPs); err != nil {
		return fmt.Errorf("%w (static key %s)", err, k.ID)
	}
	return checkRateLimit(k.RateLimit)
}

// checkKeyRef checks a key ID kept in another key's record: empty, or what
// a store can hold as an ID.
func checkKeyRef(field, id string) error {
	return checkText(field, id, 64, false)
}

// checkChanges refuses a zero KeyChange and one whose input was invalid.
func checkChanges(changes []KeyChange) error {
	for _, c := range changes {
		if c.apply == nil {
			return fmt.Errorf("%w: zero KeyChange; use the Set functions", ErrInvalidInput)
		}
		if c.err != nil {
			return c.err
		}
	}
	return nil
}

// checkPrefixes refuses allowed IP ranges maskPrefixes cannot store.
func checkPrefixes(prefixes []netip.Prefix) error {
	if len(prefixes) > maxAllowedIPs {
		return fmt.Errorf("%w: at most %d allowed IP ranges", ErrInvalidInput, maxAllowedIPs)
	}
	for _, p := range prefixes {
		if _, err := CanonicalPrefix(p); err != nil {
			return fmt.Errorf("%w: AllowedIPs: %w", ErrInvalidInput, err)
		}
	}
	return nil
}

func checkMetadata(metadata map[string]string) error {
	if len(metadata) > maxMetadata {
		return fmt.Errorf("%w: at most %d metadata entries", ErrInvalidInput, maxMetadata)
	}
	for k, v := range metadata {
		if k == "" {
			return fmt.Errorf("%w: metadata key is empty", ErrInvalidInput)
		}
		if err := checkText("metadata key", k, maxMetadataKeyLen, false); err != nil {
			return err
		}
		if err := checkText("metadata value", v, maxMetadataValLen, true); err != nil {
			return err
		}
	}
	return nil
}

// CanonicalPrefix returns p as allow-lists and trusted proxies keep and
// compare it: with its host bits cleared and, when it is an IPv4-mapped
// range, as the IPv4 range it names (::ffff:10.0.0.0/104 is 10.0.0.0/8),
// so that it matches client addresses, which are compared unmapped. It
// refuses an invalid range, and a mapped one shorter than /96, which names
// no IPv4 range. Code that compares ranges before the Manager stores them
// (package admin, bounding one key's ranges by another's) must compare
// them in this form.
func CanonicalPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid IP range")
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IP range %s is IPv4-mapped but shorter than /96, so it names no IPv4 range", p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func checkSources(sources []Source) error {
	if len(sources) == 0 {
		return errors.New("apikey: WithSources given no sources")
	}
	for _, s := range sources {
		if s.kind == 0 || s.name == "" || strings.ContainsAny(s.name, " \t\r\n,") ||
			s.kind == cookieSource && strings.ContainsAny(s.name, ";=\"") {
			return fmt.Errorf("apikey: invalid source %q: use FromHeader, FromAuthorization, FromQuery or FromCookie with a name", s.name)
		}
	}
	return nil
}
