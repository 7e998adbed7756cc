package apikey_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// The whole environment configuration: static keys, a default rate limit
// per key, and a service-wide allow-list checked before any key lookup.
func TestLoadEnv(t *testing.T) {
	const admin, valid = "admin-key-0123456789abcdef", "valid-key-0123456789abcdef"
	cfg, err := apikey.LoadEnv(envOf(map[string]string{
		"ADMIN_API_KEY": admin, "VALID_API_KEYS": valid,
		"API_RATE_LIMIT": "2", "ALLOWED_IPS": "192.168.1.100, 10.0.0.0/8, ::ffff:203.0.113.0/120",
	}))
	require.NoError(t, err)
	rememberKeys(admin, valid)
	assert.Len(t, cfg.StaticKeys, 2)
	assert.Equal(t, apikey.RateLimit{Limit: 2, Window: time.Hour}, cfg.RateLimit)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("192.168.1.100/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("203.0.113.0/24")}, cfg.AllowedIPs)

	store := newSpyStore()
	m := newManager(t, store, cfg.Options()...)
	stored, _ := mustCreate(t, m, apikey.NewKey{})
	proxy := apikey.WithTrustedProxies(netip.MustParsePrefix("127.0.0.1/32"))
	h := m.Middleware(append(cfg.MiddlewareOptions(), proxy)...)(whoami)
	from := func(addr string, headers ...string) *http.Request {
		r := get("/", headers...)
		r.RemoteAddr = addr
		return r
	}
	for _, key := range []string{valid, stored} {
		assert.Equal(t, 200, serve(h, from("10.1.2.3:1", "X-API-Key", key)).Code)
		assert.Equal(t, 200, serve(h, from("192.168.1.100:1", "X-API-Key", key)).Code)
		w := serve(h, from("192.168.1.100:1", "X-API-Key", key))
		assert.Equal(t, 429, w.Code, "2 requests an hour, per key")
		assert.NotEmpty(t, w.Header().Get("Retry-After"))
	}
	finds := store.Finds.Load()
	w := serve(h, from("198.51.100.7:1", "X-API-Key", admin))
	assert.Equal(t, 403, w.Code, "outside the allow-list, whatever the key")
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Access denied from this IP address"}, body(t, w))
	assert.Equal(t, 403, serve(h, from("198.51.100.7:1")).Code, "without a key too")
	assert.Equal(t, finds, store.Finds.Load(), "refused before any key lookup")
	assert.Equal(t, 200, serve(h, from("127.0.0.1:1", "X-API-Key", admin, "X-Forwarded-For", "203.0.113.9")).Code, "behind a trusted proxy")
	assert.Equal(t, 403, serve(h, from("127.0.0.1:1", "X-API-Key", admin, "X-Forwarded-For", "198.51.100.7")).Code)

	for _, star := range []string{"", "*", " * "} {
		cfg, err := apikey.LoadEnv(envOf(map[string]string{"ALLOWED_IPS": star}))
		require.NoError(t, err)
		assert.Nil(t, cfg.AllowedIPs)
		assert.Empty(t, cfg.MiddlewareOptions())
	}
}

// A bad value names its variable, never a key.
func TestLoadEnvRefusesBadValues(t *testing.T) {
	const secret = "the-admin-secret-0123456789"
	for name, vars := range map[string]map[string]string{
		"API_RATE_LIMIT": {"API_RATE_LIMIT": "100/h", "ADMIN_API_KEY": secret},
		"ALLOWED_IPS":    {"ALLOWED_IPS": "10.0.0.0/8,not-an-ip", "ADMIN_API_KEY": secret},
		"ADMIN_API_KEY":  {"ADMIN_API_KEY": "short"},
	} {
		_, err := apikey.LoadEnv(envOf(vars))
		require.ErrorIs(t, err, apikey.ErrInvalidInput, name)
		assert.Contains(t, err.Error(), name)
		assert.NotContains(t, err.Error(), secret)
	}
	_, err := apikey.LoadEnv(envOf(map[string]string{"API_RATE_LIMIT": "0"}))
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
	_, err = apikey.LoadEnv(envOf(map[string]string{"ALLOWED_IPS": " , "}))
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
}
