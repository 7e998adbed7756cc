package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// maxBodyBytes bounds a request body; larger ones answer 413.
const maxBodyBytes = 64 << 10

// keyJSON is a key as the API shows it, the same form the apikey command
// prints: never its digest or hash name.
type keyJSON = keyjson.Key

// rateLimitJSON is a rate limit: limit requests per window, a duration
// such as "1m", "1h30m" or "1d".
type rateLimitJSON = keyjson.RateLimit

func toJSON(k apikey.Key, now time.Time) keyJSON { return keyjson.From(k, now) }

// createRequest is the body of POST keys. Owner defaults to the
// principal's own; ExpiresAt (RFC 3339) and TTL (a duration such as "30d"
// or "720h") are two ways to set an expiry, of which at most one may be
// given.
type createRequest struct {
	Name        string            `json:"name"`
	Owner       string            `json:"owner"`
	Description string            `json:"description"`
	Scopes      []string          `json:"scopes"`
	Metadata    map[string]string `json:"metadata"`
	ExpiresAt   string            `json:"expires_at"`
	TTL         string            `json:"ttl"`
	RateLimit   *rateLimitJSON    `json:"rate_limit"`
	RateLimits  []rateLimitJSON   `json:"rate_limits"`
	AllowedIPs  []string          `json:"allowed_ips"`
	MaxUses     int64             `json:"max_uses"`
	Refill      *keyjson.Refill   `json:"refill"`
}

func (c *createRequest) newKey(p apikey.Principal, now time.Time) (apikey.NewKey, error) {
	nk := apikey.NewKey{
		Owner: c.Owner, Name: c.Name, Description: c.Description,
		Scopes: c.Scopes, Metadata: c.Metadata, MaxUses: c.MaxUses,
	}
	if nk.Owner == "" {
		nk.Owner = p.Owner
	}
	if c.MaxUses < 0 {
		return nk, errors.New("max_uses must not be negative; leave it out for no limit")
	}
	switch {
	case c.ExpiresAt != "" && c.TTL != "":
		return nk, errors.New("give expires_at or ttl, not both")
	case c.ExpiresAt != "":
		t, err := parseTime("expires_at", c.ExpiresAt)
		if err != nil {
			return nk, err
		}
		nk.ExpiresAt = t
	case c.TTL != "":
		d, err := parseDuration("ttl", c.TTL)
		if err != nil {
			return nk, err
		}
		if d <= 0 {
			return nk, errors.New("ttl must be positive")
		}
		nk.ExpiresAt = now.Add(d)
	}
	var err error
	if c.RateLimit != nil {
		if nk.RateLimit, err = parseRateLimit(*c.RateLimit); err != nil {
			return nk, err
		}
	}
	if nk.RateLimits, err = parseRateLimits("rate_limits", c.RateLimits); err != nil {
		return nk, err
	}
	if c.Refill != nil {
		nk.Refill = keyjson.ToRefill(*c.Refill)
	}
	if nk.AllowedIPs, err = parsePrefixes(c.AllowedIPs); err != nil {
		return nk, err
	}
	return nk, nil
}

// patchRequest is the body of PATCH keys/{id}: only the fields present
// change. null clears expires_at (never expires), remaining_uses (no usage
// limit), rate_limit (the Manager's default), refill (no refill), and
// empties the others but enabled, which cannot be null.
type patchRequest struct {
	Name          optional[string]            `json:"name"`
	Description   optional[string]            `json:"description"`
	Scopes        optional[[]string]          `json:"scopes"`
	Metadata      optional[map[string]string] `json:"metadata"`
	Enabled       optional[bool]              `json:"enabled"`
	ExpiresAt     optional[string]            `json:"expires_at"`
	RateLimit     optional[rateLimitJSON]     `json:"rate_limit"`
	RateLimits    optional[[]rateLimitJSON]   `json:"rate_limits"`
	AllowedIPs    optional[[]string]          `json:"allowed_ips"`
	RemainingUses optional[int64]             `json:"remaining_uses"`
	Refill        optional[keyjson.Refill]    `json:"refill"`
}

// limitsSet reports whether pr changes what a key may do or how much:
// the fields a principal without AdminScope is bounded in.
func (pr *patchRequest) limitsSet() bool {
	return pr.Scopes.Set || pr.ExpiresAt.Set || pr.RateLimit.Set || pr.RateLimits.Set ||
		pr.AllowedIPs.Set || pr.RemainingUses.Set || pr.Refill.Set
}

// changes turns the request into Manager.Update's changes, and a function
// making the same changes to a copy of the key, to authorize the result.
// enabled is left to the handler, which needs the stored key to choose
// its change (see handler.patch). With lowerOnly, remaining_uses may only
// lower the stored count, checked when the change is stored
// (apikey.LowerRemainingUses).
func (pr *patchRequest) changes(lowerOnly bool) ([]apikey.KeyChange, func(*apikey.Key), error) {
	var changes []apikey.KeyChange
	var edits []func(*apikey.Key)
	add := func(c apikey.KeyChange, edit func(*apikey.Key)) {
		changes = append(changes, c)
		edits = append(edits, edit)
	}
	if pr.Name.Set {
		add(apikey.SetName(pr.Name.V), func(k *apikey.Key) { k.Name = pr.Name.V })
	}
	if pr.Description.Set {
		add(apikey.SetDescription(pr.Description.V), func(k *apikey.Key) { k.Description = pr.Description.V })
	}
	if pr.Scopes.Set {
		scopes, err := apikey.CleanScopes(pr.Scopes.V)
		if err != nil {
			return nil, nil, errors.New(errorText(err))
		}
		add(apikey.SetScopes(scopes...), func(k *apikey.Key) { k.Scopes = scopes })
	}
	if pr.Metadata.Set {
		add(apikey.SetMetadata(pr.Metadata.V), func(k *apikey.Key) { k.Metadata = pr.Metadata.V })
	}
	if pr.Enabled.Set && pr.Enabled.Null {
		return nil, nil, errors.New("enabled must be true or false, not null")
	}
	if pr.ExpiresAt.Set {
		var t time.Time
		if !pr.ExpiresAt.Null {
			var err error
			if t, err = parseTime("expires_at", pr.ExpiresAt.V); err != nil {
				return nil, nil, err
			}
		}
		add(apikey.SetExpiry(t), func(k *apikey.Key) { k.ExpiresAt = t })
	}
	if pr.RateLimit.Set {
		var rl apikey.RateLimit
		if !pr.RateLimit.Null {
			var err error
			if rl, err = parseRateLimit(pr.RateLimit.V); err != nil {
				return nil, nil, err
			}
		}
		add(apikey.SetRateLimit(rl), func(k *apikey.Key) { k.RateLimit = rl })
	}
	if pr.RateLimits.Set {
		limits, err := parseRateLimits("rate_limits", pr.RateLimits.V)
		if err != nil {
			return nil, nil, err
		}
		add(apikey.SetRateLimits(limits...), func(k *apikey.Key) { k.RateLimits = limits })
	}
	if pr.Refill.Set {
		var r *apikey.Refill
		if !pr.Refill.Null {
			r = keyjson.ToRefill(pr.Refill.V)
		}
		add(apikey.SetRefill(r), func(k *apikey.Key) {
			k.Refill = r
			if r != nil && k.RemainingUses == nil {
				n := r.Amount
				k.RemainingUses = &n
			}
		})
	}
	if pr.AllowedIPs.Set {
		prefixes, err := parsePrefixes(pr.AllowedIPs.V)
		if err != nil {
			return nil, nil, err
		}
		add(apikey.SetAllowedIPs(prefixes...), func(k *apikey.Key) { k.AllowedIPs = prefixes })
	}
	if pr.RemainingUses.Set {
		if pr.RemainingUses.Null {
			add(apikey.NoUsageLimit(), func(k *apikey.Key) { k.RemainingUses, k.Refill = nil, nil })
		} else {
			n := pr.RemainingUses.V
			if n < 0 {
				return nil, nil, errors.New("remaining_uses must not be negative; null lifts the limit")
			}
			set := apikey.SetRemainingUses(n)
			if lowerOnly {
				set = apikey.LowerRemainingUses(n)
			}
			add(set, func(k *apikey.Key) { k.RemainingUses = &n })
		}
	}
	apply := func(k *apikey.Key) {
		for _, e := range edits {
			e(k)
		}
	}
	return changes, apply, nil
}

// restore returns the changes that put back the fields pr sets as they
// were on before: the undo of a change that turned out to leave no admin
// key (see handler.guard).
func (pr *patchRequest) restore(before apikey.Key) []apikey.KeyChange {
	var out []apikey.KeyChange
	if pr.Name.Set {
		out = append(out, apikey.SetName(before.Name))
	}
	if pr.Description.Set {
		out = append(out, apikey.SetDescription(before.Description))
	}
	if pr.Scopes.Set {
		out = append(out, apikey.SetScopes(before.Scopes...))
	}
	if pr.Metadata.Set {
		out = append(out, apikey.SetMetadata(before.Metadata))
	}
	if pr.Enabled.Set {
		out = append(out, apikey.SetEnabled(true))
		if !before.Enabled {
			out = append(out, apikey.DisableBy(before.DisabledBy))
		}
	}
	if pr.ExpiresAt.Set {
		out = append(out, apikey.SetExpiry(before.ExpiresAt))
	}
	if pr.RateLimit.Set {
		out = append(out, apikey.SetRateLimit(before.RateLimit))
	}
	if pr.RateLimits.Set {
		out = append(out, apikey.SetRateLimits(before.RateLimits...))
	}
	if pr.Refill.Set {
		out = append(out, apikey.SetRefill(before.Refill))
	}
	if pr.AllowedIPs.Set {
		out = append(out, apikey.SetAllowedIPs(before.AllowedIPs...))
	}
	if pr.RemainingUses.Set {
		if before.RemainingUses == nil {
			out = append(out, apikey.NoUsageLimit())
		} else {
			out = append(out, apikey.SetRemainingUses(*before.RemainingUses))
		}
	}
	return out
}

// rotateRequest is the body of POST keys/{id}/rotate, which may be empty:
// Grace is how long the old key keeps working, a duration ("24h", "1d");
// none or "0s" retires it at once.
type rotateRequest struct {
	Grace string `json:"grace"`
}

func (rr *rotateRequest) grace() (time.Duration, error) {
	if rr.Grace == "" {
		return 0, nil
	}
	d, err := parseDuration("grace", rr.Grace)
	if err == nil && d < 0 {
		err = errors.New("grace must not be negative")
	}
	return d, err
}

// optional is a PATCH field: Set when present in the body, Null when it
// was null.
type optional[T any] struct {
	Set, Null bool
	V         T
}

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// parseRateLimit checks a rate limit from a request body.
func parseRateLimit(rl rateLimitJSON) (apikey.RateLimit, error) {
	if rl.Limit == 0 && rl.Window == "" {
		return apikey.RateLimit{}, nil
	}
	d, err := parseDuration("rate_limit.window", rl.Window)
	if err != nil {
		return apikey.RateLimit{}, err
	}
	if rl.Limit <= 0 || d < time.Millisecond {
		return apikey.RateLimit{}, errors.New("rate_limit needs a positive limit and a window of at least 1ms")
	}
	return apikey.RateLimit{Limit: rl.Limit, Window: d}, nil
}

// parseRateLimits checks a list of named rate limits from a request body;
// the Manager checks their names.
func parseRateLimits(field string, list []rateLimitJSON) ([]apikey.RateLimit, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := make([]apikey.RateLimit, len(list))
	for i, rl := range list {
		d, err := parseDuration(fmt.Sprintf("%s[%d].window", field, i), rl.Window)
		if err != nil {
			return nil, err
		}
		if rl.Limit <= 0 || d < time.Millisecond {
			return nil, fmt.Errorf("%s[%d] needs a positive limit and a window of at least 1ms", field, i)
		}
		out[i] = apikey.RateLimit{Name: rl.Name, Limit: rl.Limit, Window: d}
	}
	return out, nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2030-01-02T15:04:05Z", field, s)
	}
	return t, nil
}

// parseDuration reads ttl, grace and a rate limit's window as the apikey
// command reads its flags: whole days ("30d") or a Go duration ("720h").
func parseDuration(field, s string) (time.Duration, error) {
	d, err := keyjson.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration such as %s", field, s, keyjson.DurationExamples)
	}
	return d, nil
}

// parsePrefixes reads CIDR ranges ("10.0.0.0/8") and single addresses
// ("192.0.2.1", read as /32 or /128).
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		var err error
		if out[i], err = keyjson.ParsePrefix(s); err != nil {
			return nil, fmt.Errorf("allowed_ips: %q is not an IP address or a CIDR range such as 10.0.0.0/8", s)
		}
		// As the Manager will store it, so that bounds compare what is
		// stored: ::ffff:0.0.0.0/96 is 0.0.0.0/0, not a range of IPv6.
		if out[i], err = apikey.CanonicalPrefix(out[i]); err != nil {
			return nil, fmt.Errorf("allowed_ips: %q: %s", s, strings.TrimPrefix(err.Error(), "apikey: "))
		}
	}
	return out, nil
}

// decodeBody reads a JSON object from r into v. It answers 415 unless the
// request says Content-Type: application/json (an HTML form cannot, so
// a cross-site form post is refused), 413 for a body over maxBodyBytes, and
// 400 for anything but one JSON object of known fields. An empty body is
// an empty object where emptyOK is true. It returns false when it
// answered.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" ||
		(params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	if r.ContentLength > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "could not read the request body")
		}
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return true
		}
		writeError(w, http.StatusBadRequest, "request body is empty; send a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, jsonErrorText(err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid JSON: data after the object")
		return false
	}
	return true
}

// jsonErrorText says what was wrong with a request body, without Go type
// names.
func jsonErrorText(err error) string {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, strings.TrimPrefix(e.Error(), "json: "))
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return "the body must be a JSON object"
		}
		return fmt.Sprintf("%s must be %s, not %s", e.Field, jsonKind(e.Type), e.Value)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "invalid JSON: the body ends too soon"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown field " + name
	}
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the JSON value a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another kind of value"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the library's error shape, {"code":-1,"msg":...}.
// A message that would repeat a key the request held is replaced.
func writeError(w http.ResponseWriter, status int, msg string) {
	if apikey.LooksLikeKey(msg) {
		msg = msgHoldsKey
	}
	writeJSON(w, status, apikey.ErrorBody{Code: -1, Msg: msg})
}

// errorText is an error's message without the package prefixes that
// wrapping repeats ("apikey: invalid input: ..." reads "invalid input: ...").
func errorText(err error) string {
	return strings.ReplaceAll(err.Error(), "apikey: ", "")
}
