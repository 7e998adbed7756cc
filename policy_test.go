package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimitPerKey(t *testing.T) {
	clock := newFakeClock() // 12:00:00, the start of a minute window
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	limited, _ := mustCreate(t, m, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 3, Window: time.Minute}})
	free, _ := mustCreate(t, m, apikey.NewKey{})
	h := m.Middleware()(whoami)

	clock.Advance(20 * time.Second)
	for i := range 3 {
		w := serve(h, get("/", "X-API-Key", limited))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "3", w.Header().Get("RateLimit-Limit"))
		assert.Equal(t, fmt.Sprint(2-i), w.Header().Get("RateLimit-Remaining"))
		assert.Equal(t, "40", w.Header().Get("RateLimit-Reset"), "seconds to the end of the window")
	}
	w := serve(h, get("/", "X-API-Key", limited))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Rate limit exceeded"}, body(t, w))
	assert.Equal(t, "40", w.Header().Get("Retry-After"))
	assert.Equal(t, "0", w.Header().Get("RateLimit-Remaining"))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))

	// A key without a limit is not counted and gets no headers.
	w = serve(h, get("/", "X-API-Key", free))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Header().Get("RateLimit-Limit"))

	// Retry-After is never 0, even in the window's last instant.
	clock.Advance(40*time.Second - time.Millisecond)
	w = serve(h, get("/", "X-API-Key", limited))
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))

	// The next window starts afresh.
	clock.Advance(time.Millisecond)
	require.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", limited)).Code)
}

func TestDefaultRateLimit(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now), apikey.WithDefaultRateLimit(2, time.Second))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	own, _ := mustCreate(t, m, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 5, Window: time.Second}})
	for range 2 {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}
	_, err := m.Verify(ctx, plain)
	var rl *apikey.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.ErrorIs(t, err, apikey.ErrRateLimited)
	assert.Equal(t, 2, rl.Status.Limit)
	for range 5 {
		_, err := m.Verify(ctx, own)
		require.NoError(t, err, "a key's own limit replaces the default")
	}
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithDefaultRateLimit(0, time.Second)) })
	assert.Panics(t, func() { apikey.New(apikey.NewMemoryStore(), apikey.WithDefaultRateLimit(5, 0)) })
}

func TestRateLimitBeforeUsageCredits(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 5, RateLimit: apikey.RateLimit{Limit: 2, Window: time.Minute}})
	results := map[int]int{}
	h := m.Middleware()(whoami)
	for range 4 {
		results[serve(h, get("/", "X-API-Key", plain)).Code]++
	}
	assert.Equal(t, map[int]int{200: 2, 429: 2}, results)
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(3), *got.RemainingUses, "limited requests spent no use")

	clock.Advance(time.Minute)
	for range 2 {
		require.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", plain)).Code)
	}
	clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", plain)).Code)
	w := serve(h, get("/", "X-API-Key", plain))
	require.Equal(t, http.StatusPaymentRequired, w.Code)
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "API key usage limit reached"}, body(t, w))
	clock.Advance(time.Minute)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted)
}

func TestUsageLimitRace(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, cache.New(apikey.NewMemoryStore()))
	plain, _ := mustCreate(t, m, apikey.NewKey{MaxUses: 30})
	var ok, spent atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				_, err := m.Verify(ctx, plain)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, apikey.ErrUsageExhausted):
					spent.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(30), ok.Load())
	assert.Equal(t, int64(50), spent.Load())
}

func TestMemoryLimiterExactUnderConcurrency(t *testing.T) {
	l := apikey.NewMemoryLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limit := apikey.RateLimit{Limit: 100, Window: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				st, err := l.Allow(context.Background(), []apikey.Bucket{{ID: "k", Limit: limit}}, 1, now)
				if assert.NoError(t, err) && st.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(100), allowed.Load())

	// Windows that ended are swept: memory stays bounded by active keys.
	for i := range 500 {
		_, err := l.Allow(context.Background(), []apikey.Bucket{{ID: fmt.Sprint("key", i), Limit: limit}}, 1, now)
		require.NoError(t, err)
	}
	assert.Equal(t, 501, l.Len())
	_, err := l.Allow(context.Background(), []apikey.Bucket{{ID: "late", Limit: limit}}, 1, now.Add(2*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, l.Len())
	_, err = l.Allow(context.Background(), []apikey.Bucket{{ID: "k"}}, 1, now)
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
}

type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, []apikey.Bucket, int, time.Time) (apikey.LimitStatus, error) {
	return apikey.LimitStatus{}, errors.New("redis: connection refused")
}

func TestLimiterFailureFailsClosed(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithLimiter(brokenLimiter{}), apikey.WithDefaultRateLimit(10, time.Second))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	w := serve(m.Middleware()(whoami), get("/", "X-API-Key", plain))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	_, err := m.Verify(context.Background(), plain)
	assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
}

func TestIPAllowList(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	office, _ := mustCreate(t, m, apikey.NewKey{AllowedIPs: []netip.Prefix{
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:1::/48"),
	}})
	anywhere, _ := mustCreate(t, m, apikey.NewKey{})
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	h := m.Middleware(apikey.WithTrustedProxies(proxies...))(whoami)

	req := func(key, remote string, headers ...string) *http.Request {
		r := get("/", append([]string{"X-API-Key", key}, headers...)...)
		r.RemoteAddr = remote
		return r
	}
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"peer in range", req(office, "203.0.113.7:5555"), 200},
		{"IPv6 peer in range", req(office, "[2001:db8:1::42]:443"), 200},
		{"IPv4-mapped IPv6 peer", req(office, "[::ffff:203.0.113.9]:80"), 200},
		{"peer out of range", req(office, "198.51.100.1:5555"), 403},
		{"spoofed XFF from an untrusted peer", req(office, "198.51.100.1:5555", "X-Forwarded-For", "203.0.113.7"), 403},
		{"spoofed X-Real-IP from an untrusted peer", req(office, "198.51.100.1:5555", "X-Real-IP", "203.0.113.7"), 403},
		{"client behind a trusted proxy", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7"), 200},
		{"outsider behind a trusted proxy", req(office, "10.1.2.3:80", "X-Forwarded-For", "198.51.100.1"), 403},
		{"two trusted hops", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7, 10.9.9.9"), 200},
		{"forged left part of the chain", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7, 198.51.100.1"), 403},
		{"chain split over two headers", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "10.9.9.9"), 200},
		{"garbage in the chain", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7, nonsense"), 403},
		{"X-Real-IP through a trusted proxy", req(office, "10.1.2.3:80", "X-Real-IP", "203.0.113.7"), 200},
		{"only trusted hops: the leftmost is the client", req(office, "10.1.2.3:80", "X-Forwarded-For", "10.7.7.7"), 403},
		{"no header through a proxy: the proxy is the client", req(office, "10.1.2.3:80"), 403},
		{"unparsable peer", req(office, "pipe"), 403},
		{"key without an allow-list", req(anywhere, "198.51.100.1:5555"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.req)
			require.Equal(t, tt.want, w.Code)
			if tt.want == 403 {
				assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Access denied from this IP address"}, body(t, w))
				assert.Empty(t, w.Header().Get("WWW-Authenticate"))
			}
		})
	}

	// Without trusted proxies, forwarding headers are never read.
	plain := m.Middleware()(whoami)
	assert.Equal(t, 403, serve(plain, req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7")).Code)

	// Verify knows no address: it refuses allow-listed keys; VerifyFrom
	// checks the given one.
	ctx := context.Background()
	_, err := m.Verify(ctx, office)
	require.ErrorIs(t, err, apikey.ErrIPNotAllowed)
	_, err = m.VerifyFrom(ctx, office, netip.MustParseAddr("203.0.113.200"))
	require.NoError(t, err)
	_, err = m.VerifyFrom(ctx, office, netip.MustParseAddr("203.0.114.1"))
	require.ErrorIs(t, err, apikey.ErrIPNotAllowed)
}

// Review finding 9: an address is compared in one form wherever it was
// read (peer, forwarded hop, X-Real-IP, VerifyFrom): unmapped and without
// its zone.
func TestClientAddressOneForm(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	linkLocal, _ := mustCreate(t, m, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}})
	office, _ := mustCreate(t, m, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	h := m.Middleware(apikey.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/64")))(whoami)
	req := func(key, remote string, headers ...string) *http.Request {
		r := get("/", append([]string{"X-API-Key", key}, headers...)...)
		r.RemoteAddr = remote
		return r
	}
	for _, tt := range []struct {
		name string
		req  *http.Request
	}{
		{"zoned peer", req(linkLocal, "[fe80::1%eth0]:443")},
		{"zoned hop", req(linkLocal, "10.1.2.3:80", "X-Forwarded-For", "fe80::1%eth0")},
		{"zoned hop with a port", req(linkLocal, "10.1.2.3:80", "X-Forwarded-For", "[fe80::1%eth0]:443")},
		{"zoned X-Real-IP", req(linkLocal, "10.1.2.3:80", "X-Real-IP", "fe80::1%eth1")},
		{"zoned trusted proxy", req(office, "[fe80::2%eth0]:80", "X-Forwarded-For", "203.0.113.7")},
		{"zoned trusted hop", req(office, "10.1.2.3:80", "X-Forwarded-For", "203.0.113.7, fe80::3%eth0")},
		{"mapped trusted proxy", req(office, "[::ffff:10.1.2.3]:80", "X-Forwarded-For", "203.0.113.7")},
		{"mapped hop", req(office, "10.1.2.3:80", "X-Forwarded-For", "::ffff:203.0.113.7")},
	} {
		assert.Equal(t, http.StatusOK, serve(h, tt.req).Code, tt.name)
	}
	for _, a := range []string{"fe80::1%eth0", "fe80::1"} {
		_, err := m.VerifyFrom(ctx, linkLocal, netip.MustParseAddr(a))
		assert.NoError(t, err, a)
	}
	for _, a := range []string{"::ffff:203.0.113.7", "::ffff:203.0.113.7%eth0"} {
		_, err := m.VerifyFrom(ctx, office, netip.MustParseAddr(a))
		assert.NoError(t, err, a)
	}
	_, err := m.VerifyFrom(ctx, office, netip.MustParseAddr("::ffff:198.51.100.1"))
	assert.ErrorIs(t, err, apikey.ErrIPNotAllowed)
}

// Review finding 9: an IPv4-mapped prefix is the IPv4 prefix it names,
// as an allowed range (stored in its IPv4 form), a static key's range and
// a trusted proxy; a mapped prefix shorter than /96 names none and is
// refused.
func TestMappedPrefixes(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	mapped := []netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120"), netip.MustParsePrefix("::ffff:198.51.100.9/128")}
	plain, k := mustCreate(t, m, apikey.NewKey{AllowedIPs: mapped})
	assert.Equal(t, "[192.0.2.0/24 198.51.100.9/32]", fmt.Sprint(k.AllowedIPs), "stored in the IPv4 form")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, "[192.0.2.0/24 198.51.100.9/32]", fmt.Sprint(got.AllowedIPs))

	h := m.Middleware()(whoami)
	from := func(remote string) int {
		r := get("/", "X-API-Key", plain)
		r.RemoteAddr = remote
		return serve(h, r).Code
	}
	assert.Equal(t, http.StatusOK, from("192.0.2.7:1"))
	assert.Equal(t, http.StatusOK, from("[::ffff:192.0.2.7]:1"))
	assert.Equal(t, http.StatusOK, from("198.51.100.9:1"))
	assert.Equal(t, http.StatusForbidden, from("198.51.100.10:1"))

	_, other := mustCreate(t, m, apikey.NewKey{})
	other, err = m.Update(ctx, other.ID, apikey.SetAllowedIPs(netip.MustParsePrefix("::ffff:203.0.113.1/104"), netip.MustParsePrefix("::ffff:0.0.0.0/96")))
	require.NoError(t, err)
	assert.Equal(t, "[203.0.0.0/8 0.0.0.0/0]", fmt.Sprint(other.AllowedIPs))

	// Shorter than /96, a mapped prefix also spans other IPv6 addresses.
	short := netip.MustParsePrefix("::ffff:192.0.2.0/95")
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "a", AllowedIPs: []netip.Prefix{short}})
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
	assert.Contains(t, err.Error(), "AllowedIPs")
	assert.Contains(t, err.Error(), short.String())
	_, err = m.Update(ctx, k.ID, apikey.SetAllowedIPs(short))
	require.ErrorIs(t, err, apikey.ErrInvalidInput)

	// Static keys read their ranges the same way.
	const static = "static-key-0123456789"
	rememberKeys(static)
	sm := newManager(t, apikey.NewMemoryStore(), apikey.WithStaticKeys(apikey.StaticKey{Key: static, ID: "static:ops", Owner: "ops", AllowedIPs: mapped[:1]}))
	_, err = sm.VerifyFrom(ctx, static, netip.MustParseAddr("192.0.2.7"))
	assert.NoError(t, err)
	assert.Panics(t, func() {
		apikey.New(apikey.NewMemoryStore(), apikey.WithStaticKeys(apikey.StaticKey{Key: static, ID: "static:ops", Owner: "ops", AllowedIPs: []netip.Prefix{short}}))
	})

	// So do trusted proxies.
	proxied := m.Middleware(apikey.WithTrustedProxies(netip.MustParsePrefix("::ffff:10.0.0.0/104")))(whoami)
	r := get("/", "X-API-Key", plain, "X-Forwarded-For", "192.0.2.7")
	r.RemoteAddr = "10.1.2.3:80"
	assert.Equal(t, http.StatusOK, serve(proxied, r).Code, "a mapped trusted proxy is trusted")
	r = get("/", "X-API-Key", plain, "X-Forwarded-For", "198.51.100.1")
	r.RemoteAddr = "10.1.2.3:80"
	assert.Equal(t, http.StatusForbidden, serve(proxied, r).Code)
	assert.Panics(t, func() { m.Middleware(apikey.WithTrustedProxies(short)) })
	assert.Panics(t, func() { m.Middleware(apikey.WithTrustedProxies(netip.Prefix{})) })
}

func TestCreateNormalisesAllowedIPs(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	_, k := mustCreate(t, m, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}})
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, k.AllowedIPs)
	_, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "a", AllowedIPs: []netip.Prefix{{}}})
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
	_, _, err = m.Create(context.Background(), apikey.NewKey{Owner: "a", MaxUses: -1})
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
	_, _, err = m.Create(context.Background(), apikey.NewKey{Owner: "a", RateLimit: apikey.RateLimit{Limit: 1}})
	assert.ErrorIs(t, err, apikey.ErrInvalidInput)
}

func TestStaticKeys(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{
		"ADMIN_API_KEY":  "admin-0123456789-abcdef",
		"VALID_API_KEYS": " svc-one-0123456789abc ,, svc-two-0123456789abc ",
	}
	static, err := apikey.StaticKeysFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Len(t, static, 3)
	for _, k := range static {
		rememberKeys(k.Key)
	}
	assert.Equal(t, "static:admin", static[0].ID)
	assert.Equal(t, []string{apikey.AdminScope}, static[0].Scopes)
	assert.Equal(t, "static:valid-2", static[2].ID)

	store := newSpyStore()
	m := newManager(t, store, apikey.WithStaticKeys(static...))
	stored, _ := mustCreate(t, m, apikey.NewKey{Owner: "alice"})

	p, err := m.Verify(ctx, "admin-0123456789-abcdef")
	require.NoError(t, err)
	assert.Equal(t, "admin", p.Owner)
	assert.True(t, p.HasScope(apikey.AdminScope))
	p, err = m.Verify(ctx, "svc-two-0123456789abc")
	require.NoError(t, err)
	assert.Equal(t, "static:valid-2", p.KeyID)

	// Stored keys come first; a key of the Manager's shape that the store
	// does not hold is looked up there, then among the static keys.
	before := store.Finds.Load()
	p, err = m.Verify(ctx, stored)
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Owner)
	assert.Equal(t, before+1, store.Finds.Load())
	_, err = m.Verify(ctx, "not-a-static-key-at-all")
	require.ErrorIs(t, err, apikey.ErrMalformedKey)

	// Static keys obey the same checks: scopes through the middleware.
	h := m.Middleware()(apikey.RequireScopes(apikey.AdminScope)(whoami))
	assert.Equal(t, http.StatusOK, serve(h, get("/", "Authorization", "Bearer admin-0123456789-abcdef")).Code)
	assert.Equal(t, http.StatusForbidden, serve(h, get("/", "X-API-Key", "svc-one-0123456789abc")).Code)

	// Bad configuration is refused, naming the variable but not the key.
	for _, bad := range []map[string]string{
		{"ADMIN_API_KEY": "short"},
		{"VALID_API_KEYS": "good-key-0123456789, has space in it"},
	} {
		_, err := apikey.StaticKeysFromEnv(func(k string) string { return bad[k] })
		require.ErrorIs(t, err, apikey.ErrInvalidInput)
		for _, v := range bad {
			assert.NotContains(t, err.Error(), v)
		}
	}
	none, err := apikey.StaticKeysFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	assert.Empty(t, none)
	assert.Panics(t, func() {
		apikey.New(apikey.NewMemoryStore(), apikey.WithStaticKeys(apikey.StaticKey{Key: "x", ID: "a", Owner: "o"}))
	})
}

// A plaintext that is both a stored key and a static key is the stored
// one: the store is asked first. Among static keys with one plaintext, the
// first given wins, so a value in both ADMIN_API_KEY and VALID_API_KEYS is
// the admin key.
func TestStaticKeyPrecedence(t *testing.T) {
	ctx := context.Background()
	for _, store := range []apikey.Store{apikey.NewMemoryStore(), cache.New(apikey.NewMemoryStore())} {
		plain, k := mustCreate(t, newManager(t, store), apikey.NewKey{Owner: "alice"})
		m := newManager(t, store, apikey.WithStaticKeys(apikey.StaticKey{Key: plain, ID: "static:shadow", Owner: "mallory"}))
		p, err := m.Verify(ctx, plain)
		require.NoError(t, err)
		assert.Equal(t, "alice", p.Owner, "%T: the stored key wins over a static key with its plaintext", store)
		assert.Equal(t, k.ID, p.KeyID)
	}

	const both = "both-0123456789-abcdef"
	env := map[string]string{"ADMIN_API_KEY": both, "VALID_API_KEYS": "svc-0123456789-abcdef," + both}
	rememberKeys(both, "svc-0123456789-abcdef")
	static, err := apikey.StaticKeysFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Len(t, static, 3)
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithStaticKeys(static...))
	p, err := m.Verify(ctx, both)
	require.NoError(t, err)
	assert.Equal(t, "static:admin", p.KeyID, "the first static key with a plaintext wins")
	assert.Equal(t, "admin", p.Owner)
	assert.True(t, p.HasScope(apikey.AdminScope))
}

func TestStaticKeyRateLimitAndAllowList(t *testing.T) {
	clock := newFakeClock()
	rememberKeys("ops-key-0123456789abcdef")
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now), apikey.WithStaticKeys(apikey.StaticKey{
		Key: "ops-key-0123456789abcdef", ID: "static:ops", Owner: "ops",
		RateLimit:  apikey.RateLimit{Limit: 1, Window: time.Minute},
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}))
	h := m.Middleware()(whoami)
	r := func(remote string) *http.Request {
		req := get("/", "X-API-Key", "ops-key-0123456789abcdef")
		req.RemoteAddr = remote
		return req
	}
	assert.Equal(t, http.StatusForbidden, serve(h, r("198.51.100.1:1")).Code)
	assert.Equal(t, http.StatusOK, serve(h, r("192.0.2.1:1")).Code)
	assert.Equal(t, http.StatusTooManyRequests, serve(h, r("192.0.2.1:1")).Code)
}

func TestMaxKeyAge(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testkit.LogWriter), nil)) // scanned after the suite too
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithClock(clock.Now), apikey.WithLogger(logger),
		apikey.WithMaxKeyAge(24*time.Hour, 48*time.Hour))
	t.Cleanup(func() { _ = m.Close() })
	plain, k := mustCreate(t, m, apikey.NewKey{})

	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	assert.Empty(t, logs.String(), "a young key is not reported")

	clock.Advance(25 * time.Hour)
	for range 10 {
		_, err = m.Verify(ctx, plain)
		require.NoError(t, err, "past the recommended age still verifies")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "recommended lifetime"), "one warning, not one per request")
	assert.Contains(t, logs.String(), k.ID)
	assert.NotContains(t, logs.String(), plain)

	clock.Advance(59 * time.Minute)
	_, _ = m.Verify(ctx, plain)
	assert.Equal(t, 1, strings.Count(logs.String(), "recommended lifetime"))
	clock.Advance(time.Minute)
	_, _ = m.Verify(ctx, plain)
	assert.Equal(t, 2, strings.Count(logs.String(), "recommended lifetime"), "again after an hour")

	clock.Advance(23 * time.Hour)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyTooOld)
	assert.Equal(t, http.StatusUnauthorized, apikey.StatusCode(err))
}

func TestObserver(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []apikey.Event
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithObserver(func(_ context.Context, e apikey.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	plain, k := mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	disabled, dk := mustCreate(t, m, apikey.NewKey{Owner: "bob"})
	_, err := m.Disable(ctx, dk.ID)
	require.NoError(t, err)
	h := m.Middleware()(whoami)
	r := get("/", "X-API-Key", plain)
	r.RemoteAddr = "192.0.2.7:1234"
	serve(h, r)
	serve(h, get("/", "X-API-Key", disabled))
	serve(h, get("/"))
	serve(h, get("/", "X-API-Key", "garbage"))

	require.Len(t, events, 4)
	assert.Equal(t, k.ID, events[0].KeyID)
	assert.Equal(t, "alice", events[0].Owner)
	assert.NoError(t, events[0].Err)
	assert.Equal(t, netip.MustParseAddr("192.0.2.7"), events[0].ClientIP)
	assert.Positive(t, events[0].Latency)
	assert.Equal(t, dk.ID, events[1].KeyID, "a refused key that was found is named")
	assert.ErrorIs(t, events[1].Err, apikey.ErrKeyDisabled)
	assert.Empty(t, events[2].KeyID)
	assert.ErrorIs(t, events[2].Err, apikey.ErrMissingKey)
	assert.ErrorIs(t, events[3].Err, apikey.ErrMalformedKey)
	for _, e := range events {
		assert.NotContains(t, fmt.Sprintf("%+v", e), plain)
		assert.NotContains(t, fmt.Sprintf("%+v", e), disabled)
	}
}

func TestSlogObserver(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(&logs, testkit.LogWriter), &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithObserver(apikey.SlogObserver(logger)))
	plain, k := mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	h := m.Middleware()(whoami)
	serve(h, get("/", "X-API-Key", plain))
	serve(h, get("/", "X-API-Key", testkit.ChangeLast(plain)))
	out := logs.String()
	assert.Contains(t, out, `"outcome":"allowed"`)
	assert.Contains(t, out, `"key_id":"`+k.ID+`"`)
	assert.Contains(t, out, `"outcome":"refused"`)
	assert.Contains(t, out, `"reason":"apikey: malformed API key"`)
	assert.NotContains(t, out, plain[3:])
	assert.NotContains(t, out, plain[3:len(plain)-1], "not even the tampered key")
}
