package apikey

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// scanKey reads one row of sqlColumns.
func (s *SQLStore) scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var scopes, metadata, ips, rateLimits []byte
	var refillAmt sql.NullInt64
	var refillIntv string
	var refillDay int
	var refillRoll bool
	var windowUS int64
	var remaining sql.NullInt64
	err := row.Scan(&k.ID, &k.Owner, &k.Name, &k.Description, &scopes, &metadata,
		&k.Start, &k.Hash, &k.Digest, &k.Enabled,
		&sqlTime{&k.CreatedAt, s.dialect}, &sqlTime{&k.UpdatedAt, s.dialect},
		&sqlTime{&k.ExpiresAt, s.dialect}, &sqlTime{&k.LastUsedAt, s.dialect},
		&k.RateLimit.Limit, &windowUS, &ips, &remaining, &k.RotatedTo, &k.CreatedBy, &k.DisabledBy, &rateLimits,
		&refillAmt, &refillIntv, &refillDay, &refillRoll, &sqlTime{&k.RefilledAt, s.dialect}, &k.UsesSpent)
	if err != nil {
		return Key{}, err
	}
	k.RateLimit.Window = time.Duration(windowUS) * time.Microsecond
	if remaining.Valid {
		k.RemainingUses = &remaining.Int64
	}
	if len(ips) > 0 {
		if err := json.Unmarshal(ips, &k.AllowedIPs); err != nil {
			return Key{}, fmt.Errorf("decoding allowed IPs of key %s: %w", k.ID, err)
		}
		k.AllowedIPs = normIPs(k.AllowedIPs)
	}
	if len(scopes) > 0 {
		if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
			return Key{}, fmt.Errorf("decoding scopes of key %s: %w", k.ID, err)
		}
	}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &k.Metadata); err != nil {
			return Key{}, fmt.Errorf("decoding metadata of key %s: %w", k.ID, err)
		}
	}
	if refillAmt.Valid {
		k.Refill = &Refill{Amount: refillAmt.Int64, Interval: RefillInterval(refillIntv), Day: refillDay, RollOver: refillRoll}
	}
	if k.RateLimits, err = decodeRateLimits(rateLimits); err != nil {
		return Key{}, fmt.Errorf("decoding rate limits of key %s: %w", k.ID, err)
	}
	k.Scopes, k.Metadata = normScopes(k.Scopes), normMetadata(k.Metadata)
	return k, nil
}

// encodeLists turns scopes and metadata into the JSON text stored for them.
// HTML escaping is off so "<" stays one byte: metadata values near the
// Manager's size limits must still fit the columns.
func encodeLists(scopes []string, metadata map[string]string) (string, string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if scopes == nil {
		scopes = []string{}
	}
	if err := enc.Encode(scopes); err != nil {
		return "", "", fmt.Errorf("apikey: encoding scopes: %w", err)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	b.Reset()
	if metadata == nil {
		metadata = map[string]string{}
	}
	if err := enc.Encode(metadata); err != nil {
		return "", "", fmt.Errorf("apikey: encoding metadata: %w", err)
	}
	return s, strings.TrimSuffix(b.String(), "\n"), nil
}

// encodeIPs turns allowed IP ranges into the JSON text stored for them.
func encodeIPs(ips []netip.Prefix) (string, error) {
	if len(ips) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ips)
	if err != nil {
		return "", fmt.Errorf("%w: allowed IPs: %w", ErrInvalidInput, err)
	}
	return string(b), nil
}

func normIPs(ips []netip.Prefix) []netip.Prefix {
	if len(ips) == 0 {
		return nil
	}
	return ips
}

// nullInt is the column value of an optional count.
func nullInt(n *int64) any {
	if n == nil {
		return nil
	}
	return *n
}

// normScopes and normMetadata make empty lists nil, so a key reads back the
// same whether it was stored with nil or empty ones.
func normScopes(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// normTime is t as every dialect keeps it: UTC, microseconds.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// mysqlTimeLayout is how times are sent to and read from DATETIME(6).
const mysqlTimeLayout = "2006-01-02 15:04:05.000000"

// timeArg converts t to the dialect's column value; the zero time is NULL
// where the column allows it.
func (s *SQLStore) timeArg(t time.Time, nullable bool) any {
	if nullable && t.IsZero() {
		return nil
	}
	t = normTime(t)
	switch s.dialect {
	case MySQL:
		// A string is stored as written, whatever the driver's loc
		// parameter or the session time zone say.
		return t.Format(mysqlTimeLayout)
	case SQLite:
		return t.UnixMicro()
	}
	return t
}

// sqlTime scans any dialect's time column into a UTC time; NULL is the
// zero time.
type sqlTime struct {
	t       *time.Time
	dialect Dialect
}

func (st *sqlTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*st.t = time.Time{}
		return nil
	case int64:
		*st.t = time.UnixMicro(v).UTC()
		return nil
	case time.Time:
		if st.dialect == MySQL {
			// DATETIME has no zone: the driver attached its loc
			// parameter to a wall clock that was written in UTC.
			y, mo, d := v.Date()
			h, mi, sec := v.Clock()
			v = time.Date(y, mo, d, h, mi, sec, v.Nanosecond(), time.UTC)
		}
		*st.t = normTime(v)
		return nil
	case []byte:
		return st.parse(string(v))
	case string:
		return st.parse(v)
	}
	return fmt.Errorf("apikey: cannot read a time from %T", src)
}

// parse reads the text form MySQL sends without parseTime=true.
func (st *sqlTime) parse(s string) error {
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		return fmt.Errorf("apikey: reading time %q: %w", s, err)
	}
	*st.t = t.UTC()
	return nil
}

// isUniqueViolation reports whether err from an INSERT is a unique
// constraint violation. Importing no driver, it relies on what each driver
// exposes: an SQLSTATE method (pgx, lib/pq) or the message text, which is
// stable in practice: "SQLSTATE 23505" and "duplicate key value" from
// PostgreSQL, "Error 1062" and "Duplicate entry" from MySQL, "UNIQUE
// constraint failed" from SQLite.
func isUniqueViolation(err error) bool {
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && coded.SQLState() == "23505" {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"SQLSTATE 23505", "duplicate key value", "Error 1062", "Duplicate entry", "UNIQUE constraint failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// rateLimitJSON is a named rate limit as the rate_limits column keeps it.
type rateLimitJSON struct {
	Name     string `json:"name"`
	Limit    int    `json:"limit"`
	WindowUS int64  `json:"window_us"`
}

// encodeRateLimits turns named limits into the JSON text stored for them,
// or NULL for none.
func encodeRateLimits(limits []RateLimit) any {
	if len(limits) == 0 {
		return nil
	}
	out := make([]rateLimitJSON, len(limits))
	for i, r := range limits {
		out[i] = rateLimitJSON{Name: r.Name, Limit: r.Limit, WindowUS: r.Window.Microseconds()}
	}
	b, _ := json.Marshal(out) // strings and numbers: cannot fail
	return string(b)
}

func decodeRateLimits(b []byte) ([]RateLimit, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var in []rateLimitJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, err
	}
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]RateLimit, len(in))
	for i, r := range in {
		out[i] = RateLimit{Name: r.Name, Limit: r.Limit, Window: time.Duration(r.WindowUS) * time.Microsecond}
	}
	return out, nil
}

// The refill columns of a key's Refill (NULL, "" and zeros for none).
func refillAmount(r *Refill) any {
	if r == nil {
		return nil
	}
	return r.Amount
}

func refillInterval(r *Refill) string {
	if r == nil {
		return ""
	}
	return string(r.Interval)
}

func refillDay(r *Refill) int {
	if r == nil {
		return 0
	}
	return r.Day
}

func refillRollOver(r *Refill) bool { return r != nil && r.RollOver }
