package keyjson

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DurationExamples names the forms ParseDuration reads, for messages.
const DurationExamples = "30d, 720h, 90m or 30s"

// maxDays bounds whole days, well inside what a time.Duration holds.
const maxDays = 100 * 365

// ParseDuration reads a duration as the admin API (ttl, grace, a rate
// limit's window) and the apikey command (--ttl, --grace, --rate-limit)
// both take it: whole days of 24 hours, such as "30d", or a Go duration,
// such as "720h", "90m" or "1h30m". A sign is allowed; callers refuse what
// they cannot use.
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < -maxDays || n > maxDays {
			return 0, errors.New("want a duration such as " + DurationExamples)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as " + DurationExamples)
	}
	return d, nil
}

// ParsePrefix reads an allowed client address range as the admin API
// (allowed_ips) and the apikey command (--allowed-ips) both take it: a
// CIDR range ("10.0.0.0/8") or a single address ("192.0.2.1", read as /32
// or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
