package apikey

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// EnvConfig is a service's API key configuration read from its
// environment by LoadEnv: static keys, a default rate limit and a
// service-wide client address allow-list.
type EnvConfig struct {
	// StaticKeys are ADMIN_API_KEY and VALID_API_KEYS (StaticKeysFromEnv).
	StaticKeys []StaticKey
	// RateLimit is API_RATE_LIMIT requests an hour for every key, static
	// keys included, without a rate limit of its own; zero when unset.
	RateLimit RateLimit
	// AllowedIPs is ALLOWED_IPS: the client addresses and ranges the
	// service answers; nil when unset, empty or "*" (every address).
	AllowedIPs []netip.Prefix
}

// LoadEnv reads the whole API key configuration a service can take from
// its environment through getenv (os.Getenv):
//
//	ADMIN_API_KEY=…                        a static key with the admin scope
//	VALID_API_KEYS=k1,k2                   static keys without scopes
//	API_RATE_LIMIT=100                     requests an hour, per key, for keys without a limit of their own
//	ALLOWED_IPS=192.168.1.100,10.0.0.0/8   the only client addresses served (* or unset: all)
//
// A bad value is an error wrapping ErrInvalidInput that names the
// variable, and never holds a key. Apply the result with Options (for
// New) and MiddlewareOptions (for Manager.Middleware).
func LoadEnv(getenv func(string) string) (EnvConfig, error) {
	var c EnvConfig
	var err error
	if c.StaticKeys, err = StaticKeysFromEnv(getenv); err != nil {
		return EnvConfig{}, err
	}
	if v := strings.TrimSpace(getenv("API_RATE_LIMIT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return EnvConfig{}, fmt.Errorf("%w: API_RATE_LIMIT must be a whole number of requests an hour, 1 or more, not %q", ErrInvalidInput, v)
		}
		c.RateLimit = RateLimit{Limit: n, Window: time.Hour}
	}
	if c.AllowedIPs, err = parseAllowList(getenv("ALLOWED_IPS")); err != nil {
		return EnvConfig{}, err
	}
	return c, nil
}

// parseAllowList reads ALLOWED_IPS: addresses and CIDR ranges separated by
// commas, or "*" for every address.
func parseAllowList(v string) ([]netip.Prefix, error) {
	if v = strings.TrimSpace(v); v == "" || v == "*" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err == nil {
			p, err = CanonicalPrefix(p)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: ALLOWED_IPS: %q is not an IP address or a CIDR range such as 10.0.0.0/8", ErrInvalidInput, s)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: ALLOWED_IPS names no address; leave it unset or * to allow every address", ErrInvalidInput)
	}
	return out, nil
}

// Options returns the Manager options c sets: the static keys and the
// default rate limit.
func (c EnvConfig) Options() []Option {
	var opts []Option
	if len(c.StaticKeys) > 0 {
		opts = append(opts, WithStaticKeys(c.StaticKeys...))
	}
	if !c.RateLimit.IsZero() {
		opts = append(opts, WithDefaultRateLimit(c.RateLimit.Limit, c.RateLimit.Window))
	}
	return opts
}

// MiddlewareOptions returns the middleware options c sets: the
// service-wide allow-list. Name the proxies in front of the service with
// WithTrustedProxies as well, or every client is the proxy.
func (c EnvConfig) MiddlewareOptions() []MiddlewareOption {
	if len(c.AllowedIPs) == 0 {
		return nil
	}
	return []MiddlewareOption{WithAllowedIPs(c.AllowedIPs...)}
}
