package forwardauth_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/testkit"
)

// TestMain fails the run if a log line holds a key (internal/testkit).
func TestMain(m *testing.M) { testkit.Main(m) }

// check sends a check request as a gateway does: target is the check
// request's own, headers are name, value pairs (the client's headers and
// the gateway's X-Forwarded-*).
func check(h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return testkit.Serve(h, r)
}

// body returns the msg of a JSON error body.
func body(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b apikey.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	assert.Equal(t, -1, b.Code)
	return b.Msg
}

// A key the handler lets through: 200, the principal in the headers, and
// nothing else a gateway would copy.
func TestAllow(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, k := testkit.MustCreate(t, m, apikey.NewKey{Owner: "Zoë Ops", Name: "ci, nightly", Scopes: []string{"bots:read", "bots:write"}})
	h := forwardauth.New(m)

	w := check(h, "GET", "/auth", "X-API-Key", plain, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, k.ID, w.Header().Get("X-Auth-Key-Id"))
	assert.Equal(t, "Zo%C3%AB%20Ops", w.Header().Get("X-Auth-Owner"))
	assert.Equal(t, "ci%2C%20nightly", w.Header().Get("X-Auth-Key-Name"))
	assert.Equal(t, "bots:read,bots:write", w.Header().Get("X-Auth-Scopes"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Empty(t, w.Header().Values("X-Auth-Error"))
	assert.Empty(t, w.Body.String())

	// Authorization, as every gateway forwards it.
	w = check(h, "GET", "/auth", "Authorization", "Bearer "+plain)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "Zo%C3%AB%20Ops", w.Header().Get("X-Auth-Owner"))
}

// Refusals are the middleware's: status, challenge, body, and the body's
// message in X-Auth-Error; never a principal header.
func TestRefusals(t *testing.T) {
	store := testkit.NewSpyStore()
	m := testkit.NewManager(t, store)
	plain, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	other, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "bob"})
	limited, _ := testkit.MustCreate(t, m, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 1, Window: time.Hour}})
	h := forwardauth.New(m, forwardauth.Require("", "/admin", "admin"))
	fwd := func(uri string, more ...string) []string {
		return append([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", uri}, more...)
	}

	for _, c := range []struct {
		name    string
		headers []string
		status  int
		msg     string
		www     string
	}{
		{"missing", fwd("/bots"), 401, "Missing API key", `Bearer realm="api"`},
		{"unknown", fwd("/bots", "X-API-Key", "ak_000000000000000000000000000000000000"), 401, "Invalid API key", `Bearer realm="api", error="invalid_token"`},
		{"garbage", fwd("/bots", "X-API-Key", "nonsense"), 401, "Invalid API key", `Bearer realm="api", error="invalid_token"`},
		{"two keys in headers", fwd("/bots", "X-API-Key", plain, "Authorization", "Bearer "+other), 400, "Conflicting API keys", ""},
		{"header and forwarded query", fwd("/bots?x-api-key="+other, "X-API-Key", plain), 400, "Conflicting API keys", ""},
		{"scope", fwd("/admin/keys", "X-API-Key", plain), 403, "Insufficient scope", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := check(h, "GET", "/auth", c.headers...)
			assert.Equal(t, c.status, w.Code)
			assert.Equal(t, c.msg, body(t, w))
			assert.Equal(t, c.msg, w.Header().Get("X-Auth-Error"))
			assert.Equal(t, c.www, w.Header().Get("WWW-Authenticate"))
			for _, n := range []string{"X-Auth-Key-Id", "X-Auth-Owner", "X-Auth-Key-Name", "X-Auth-Scopes"} {
				assert.Empty(t, w.Header().Values(n), n)
			}
		})
	}

	t.Run("rate limited", func(t *testing.T) {
		w := check(h, "GET", "/auth", fwd("/bots", "X-API-Key", limited)...)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "1", w.Header().Get("RateLimit-Limit"), "a limited key's headers come with its successes too")
		assert.Equal(t, "0", w.Header().Get("RateLimit-Remaining"))
		w = check(h, "GET", "/auth", fwd("/bots", "X-API-Key", limited)...)
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "Rate limit exceeded", body(t, w))
		retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
		require.NoError(t, err)
		assert.True(t, retry >= 1 && retry <= 3600, "Retry-After %d", retry)
		assert.Equal(t, "0", w.Header().Get("RateLimit-Remaining"))
	})

	t.Run("store down", func(t *testing.T) {
		store.FailWith(errors.New("connection refused"))
		defer store.Heal()
		w := check(h, "GET", "/auth", fwd("/bots", "X-API-Key", plain)...)
		assert.Equal(t, http.StatusServiceUnavailable, w.Code)
		assert.Equal(t, "Service unavailable", body(t, w))
		assert.Empty(t, w.Header().Values("X-Auth-Owner"))
	})
}

// A key in the query: in the forwarded URI, in the check request's own
// query (Caddy keeps the client's), or the same key in both.
func TestQueryKey(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, m, apikey.NewKey{})
	other, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "bob"})
	h := forwardauth.New(m)

	w := check(h, "GET", "/auth", "X-Forwarded-Uri", "/bots?a=1&x-api-key="+plain)
	assert.Equal(t, http.StatusOK, w.Code, "in the forwarded URI")
	assert.Equal(t, "alice", w.Header().Get("X-Auth-Owner"))

	w = check(h, "GET", "/auth?x-api-key="+plain, "X-Forwarded-Uri", "/bots?x-api-key="+plain)
	assert.Equal(t, http.StatusOK, w.Code, "the same key in both queries")

	w = check(h, "GET", "/auth?x-api-key="+plain, "X-Forwarded-Uri", "/bots?x-api-key="+other)
	assert.Equal(t, http.StatusBadRequest, w.Code, "two keys in the two queries")
	assert.Equal(t, "Conflicting API keys", body(t, w))

	w = check(h, "GET", "/auth?x-api-key="+other, "X-Forwarded-Uri", "/bots")
	assert.Equal(t, http.StatusOK, w.Code, "the check request's own query")
	assert.Equal(t, "bob", w.Header().Get("X-Auth-Owner"))

	// An absolute-form URI, as $request_uri holds when a client sent one.
	w = check(h, "GET", "/auth", "X-Forwarded-Uri", "http://example.com/bots?x-api-key="+plain)
	assert.Equal(t, http.StatusOK, w.Code)

	// Another header, as nginx users often name it.
	h = forwardauth.New(m, forwardauth.WithURIHeader("X-Original-URI"))
	w = check(h, "GET", "/auth", "X-Original-URI", "/bots?x-api-key="+plain)
	assert.Equal(t, http.StatusOK, w.Code)
	w = check(h, "GET", "/auth", "X-Forwarded-Uri", "/bots?x-api-key="+plain)
	assert.Equal(t, http.StatusUnauthorized, w.Code, "X-Forwarded-Uri is not read once another header is named")
}

// Rules judge the client's method and path, decoded and cleaned as
// routers resolve them.
func TestRequire(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	reader, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	writer, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read", "bots:write"}})
	admin, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"admin"}})
	h := forwardauth.New(m,
		forwardauth.Require("", "/admin/", "admin"),
		forwardauth.Require("GET", "/bots", "bots:read"),
		forwardauth.Require("POST", "/bots", "bots:write"),
	)
	for _, c := range []struct {
		method, uri, key string
		want             int
	}{
		{"GET", "/admin", reader, 403},
		{"GET", "/admin/keys", reader, 403},
		{"GET", "/%61dmin/keys", reader, 403},
		{"GET", "//admin/keys", reader, 403},
		{"GET", "/public/../admin/keys", reader, 403},
		{"GET", "/public/%2e%2e/admin", reader, 403},
		{"GET", "/ADMIN/keys", reader, 403},
		{"GET", "/Admin", reader, 403},
		{"GET", "/admin;jsessionid=1/keys", reader, 403},
		{"GET", "/public/..;/admin/keys", reader, 403},
		{"GET", "/public/%2e%2e;x=1/admin", reader, 403},
		{"GET", "/public%5C..%5Cadmin%5Ckeys", reader, 403},
		{"GET", "/%2561dmin/keys", reader, 403},
		{"GET", "/public/%252e%252e/admin", reader, 403},
		{"GET", "/public;admin", reader, 200},
		{"GET", "/administrator;x=/admin", reader, 200},
		{"GET", "/admin/keys", admin, 200},
		{"GET", "/administrator", reader, 200},
		{"GET", "/public", reader, 200},
		{"GET", "/bots/1", reader, 200},
		{"HEAD", "/bots/1", admin, 403},
		{"POST", "/bots", reader, 403},
		{"post", "/bots", reader, 403},
		{"POST", "/bots", writer, 200},
		{"DELETE", "/bots", admin, 200},
	} {
		w := check(h, "GET", "/auth", "X-API-Key", c.key, "X-Forwarded-Method", c.method, "X-Forwarded-Uri", c.uri)
		assert.Equal(t, c.want, w.Code, "%s %s", c.method, c.uri)
	}

	// Without the client's method and URI, rules cannot be applied.
	for _, headers := range [][]string{
		{"X-Forwarded-Uri", "/bots"},
		{"X-Forwarded-Method", "GET"},
		{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public", "X-Forwarded-Uri", "/admin"},
		{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bad%zz"},
	} {
		w := check(h, "GET", "/auth", append([]string{"X-API-Key", admin}, headers...)...)
		assert.Equal(t, http.StatusInternalServerError, w.Code, "%q", headers)
		assert.Empty(t, w.Header().Values("X-Auth-Owner"))
	}
}

// The client's method and URI may come in other headers; the default ones
// are then not read.
func TestOtherHeaders(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	reader, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	h := forwardauth.New(m, forwardauth.WithURIHeader("X-Original-URI"), forwardauth.WithMethodHeader("X-Original-Method"),
		forwardauth.Require("POST", "/bots", "bots:write"))
	w := check(h, "GET", "/auth", "X-API-Key", reader, "X-Original-Method", "POST", "X-Original-URI", "/bots",
		"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public")
	assert.Equal(t, http.StatusForbidden, w.Code)
	w = check(h, "GET", "/auth", "X-API-Key", reader, "X-Original-Method", "GET", "X-Original-URI", "/bots",
		"X-Forwarded-Method", "POST")
	assert.Equal(t, http.StatusOK, w.Code)
	w = check(h, "GET", "/auth", "X-API-Key", reader, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/public")
	assert.Equal(t, http.StatusInternalServerError, w.Code, "the rules need the headers named")
}

// Rules read from text, for configuration files and flags.
func TestParseRequire(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	reader, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	opt, err := forwardauth.ParseRequire("POST /bots = bots:write, admin")
	require.NoError(t, err)
	h := forwardauth.New(m, opt)
	w := check(h, "GET", "/auth", "X-API-Key", reader, "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/bots/1")
	assert.Equal(t, http.StatusForbidden, w.Code)
	w = check(h, "GET", "/auth", "X-API-Key", reader, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots/1")
	assert.Equal(t, http.StatusOK, w.Code)

	for _, bad := range []string{"", "/bots", "bots=a", "/bots=", "/bots=a b", "GE(T /bots=a", "POST=a"} {
		_, err := forwardauth.ParseRequire(bad)
		assert.ErrorIs(t, err, apikey.ErrInvalidInput, bad)
	}
	assert.Panics(t, func() { forwardauth.Require("", "bots", "a") })
	assert.Panics(t, func() { forwardauth.Require("", "/bots") })
}

// Envoy sends the client's request itself, its path behind the prefix.
func TestPathPrefix(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	reader, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	h := forwardauth.New(m, forwardauth.WithPathPrefix("/ext_authz"), forwardauth.Require("POST", "/bots", "bots:write"))

	w := check(h, "GET", "/ext_authz/bots?x-api-key="+reader)
	assert.Equal(t, http.StatusOK, w.Code, "the query is the client's")
	assert.Equal(t, "alice", w.Header().Get("X-Auth-Owner"))
	w = check(h, "POST", "/ext_authz/bots", "X-API-Key", reader)
	assert.Equal(t, http.StatusForbidden, w.Code, "the method and path are the client's")
	w = check(h, "POST", "/ext_authz//%62ots/../bots", "X-API-Key", reader)
	assert.Equal(t, http.StatusForbidden, w.Code)
	w = check(h, "POST", "/ext_authz/public", "X-API-Key", reader, "X-Forwarded-Uri", "/bots", "X-Forwarded-Method", "GET")
	assert.Equal(t, http.StatusOK, w.Code, "headers a client may have sent are not read")
	w = check(h, "POST", "/ext_authz/bots", "X-API-Key", reader, "X-Forwarded-Uri", "/public", "X-Forwarded-Method", "GET")
	assert.Equal(t, http.StatusForbidden, w.Code, "nor can they open a path")

	for _, target := range []string{"/bots", "/ext_authzbots", "/ext_authz"} {
		w = check(h, "GET", target, "X-API-Key", reader)
		assert.Equal(t, http.StatusInternalServerError, w.Code, target)
	}
}

// The client address behind the gateway counts only when the gateway is
// trusted.
func TestTrustedGateway(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, m, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	// httptest's requests come from 192.0.2.1.
	untrusting := forwardauth.New(m)
	trusting := forwardauth.New(m, forwardauth.WithMiddleware(apikey.WithTrustedProxies(netip.MustParsePrefix("192.0.2.1/32"))))

	w := check(untrusting, "GET", "/auth", "X-API-Key", plain, "X-Forwarded-For", "10.1.2.3")
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Equal(t, "Access denied from this IP address", body(t, w))
	w = check(trusting, "GET", "/auth", "X-API-Key", plain, "X-Forwarded-For", "10.1.2.3")
	assert.Equal(t, http.StatusOK, w.Code)
	w = check(trusting, "GET", "/auth", "X-API-Key", plain, "X-Forwarded-For", "10.1.2.3, 203.0.113.9")
	assert.Equal(t, http.StatusForbidden, w.Code, "the hop the gateway saw")
}

// A request let through without a principal (skipped, a preflight)
// carries the principal headers empty, so a gateway copying them replaces
// the client's; skip and preflight see the client's request.
func TestNoPrincipal(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	var skipped []string
	h := forwardauth.New(m, forwardauth.WithMiddleware(
		apikey.WithSkip(func(r *http.Request) bool {
			skipped = append(skipped, r.Method+" "+r.URL.EscapedPath())
			return r.URL.EscapedPath() == "/healthz"
		}),
		apikey.WithPreflight(nil),
	))
	w := check(h, "GET", "/auth", "X-Forwarded-Method", "HEAD", "X-Forwarded-Uri", "/healthz", "X-Auth-Owner", "mallory")
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, []string{"HEAD /healthz"}, skipped)
	for _, n := range []string{"X-Auth-Key-Id", "X-Auth-Owner", "X-Auth-Key-Name", "X-Auth-Scopes"} {
		assert.Equal(t, []string{""}, w.Header().Values(n), n)
	}
	w = check(h, "GET", "/auth", "X-Forwarded-Method", "OPTIONS", "X-Forwarded-Uri", "/bots",
		"Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, []string{""}, w.Header().Values("X-Auth-Owner"))
	w = check(h, "GET", "/auth", "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots")
	assert.Equal(t, http.StatusUnauthorized, w.Code, "anything else needs a key")
}

// Header names are configurable; an empty one is left out; a refusal goes
// through the error handler given.
func TestHeadersAndErrorHandler(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"a"}})
	hs := forwardauth.DefaultHeaders()
	hs.Owner, hs.Name, hs.Error = "x-user", "", "X-Why"
	var seen error
	h := forwardauth.New(m, forwardauth.WithHeaders(hs), forwardauth.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		seen = err
		w.WriteHeader(apikey.StatusCode(err))
	}))
	w := check(h, "GET", "/auth", "X-API-Key", plain)
	assert.Equal(t, "alice", w.Header().Get("X-User"))
	assert.Empty(t, w.Header().Values("X-Auth-Key-Name"))
	assert.Empty(t, w.Header().Values("X-Auth-Owner"))
	w = check(h, "GET", "/auth")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.ErrorIs(t, seen, apikey.ErrMissingKey)
	assert.Equal(t, "Missing API key", w.Header().Get("X-Why"))
	assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))

	for _, bad := range []forwardauth.Headers{
		{Owner: "X-A", KeyID: "x-a"},
		{Owner: "X A"},
		{Owner: "X-A\r\nX-B"},
	} {
		assert.Panics(t, func() { forwardauth.New(m, forwardauth.WithHeaders(bad)) }, "%q", bad)
	}
	assert.Panics(t, func() { forwardauth.New(m, forwardauth.WithURIHeader("")) })
	assert.Panics(t, func() { forwardauth.New(m, forwardauth.WithPathPrefix("ext")) })
	assert.Panics(t, func() { forwardauth.New(nil) })
}

// Owners and names hold any text, even what validation never lets in
// (static keys come from configuration): each header value is one
// printable ASCII token that decodes to exactly the text, through a real
// HTTP connection.
func TestHeaderValuesCannotBreakOut(t *testing.T) {
	hostile := []string{
		"evil\r\nX-Injected: 1",
		"evil\nX-Injected: 1",
		" alice ",
		"alice, bob",
		"a%41b+c",
		"\x00\x7f\xff\xfe",
		"Zoë 👋 \"quoted\" 'single' <tag> ;=?&#",
	}
	var static []apikey.StaticKey
	for i, owner := range hostile {
		static = append(static, apikey.StaticKey{Key: strings.Repeat(string(rune('a'+i)), 20), ID: "static:" + owner, Owner: owner, Name: owner})
	}
	m := testkit.NewManager(t, apikey.NewMemoryStore(), apikey.WithStaticKeys(static...))
	srv := httptest.NewServer(forwardauth.New(m))
	defer srv.Close()
	for _, sk := range static {
		req, err := http.NewRequest("GET", srv.URL+"/auth", nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", sk.Key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%q", sk.Owner)
		assert.Empty(t, resp.Header.Values("X-Injected"), "%q", sk.Owner)
		for _, n := range []string{"X-Auth-Key-Id", "X-Auth-Owner", "X-Auth-Key-Name"} {
			vs := resp.Header.Values(n)
			require.Len(t, vs, 1, "%s of %q", n, sk.Owner)
			for _, c := range []byte(vs[0]) {
				assert.True(t, c > ' ' && c < 0x7f && c != ',' && c != '"', "%s of %q holds %q", n, sk.Owner, c)
			}
			got, err := url.PathUnescape(vs[0])
			require.NoError(t, err)
			assert.Equal(t, sk.Owner, strings.TrimPrefix(got, "static:"), n)
			got2, err := url.QueryUnescape(vs[0])
			require.NoError(t, err)
			assert.Equal(t, got, got2, "no '+' left to read as a space")
		}
	}
}

// One store lookup a check, as for the middleware, whichever places the
// key came in.
func TestNoExtraLookups(t *testing.T) {
	store := testkit.NewSpyStore()
	m := testkit.NewManager(t, store)
	plain, _ := testkit.MustCreate(t, m, apikey.NewKey{})
	h := forwardauth.New(m)
	before := store.Finds.Load()
	w := check(h, "GET", "/auth", "X-API-Key", plain, "X-Forwarded-Uri", "/?x-api-key="+plain)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, int64(1), store.Finds.Load()-before)
}

// A path that decodes twice is matched as decoded twice even where its
// second decoding meets a '%' that starts no escape: servers that decode
// twice keep such a '%' as it is (PHP's urldecode, most lenient decoders)
// and route the rest, so /%2561dmin/x%25 is /admin/x% to them.
func TestRequireDecodesTwiceLeniently(t *testing.T) {
	m := testkit.NewManager(t, apikey.NewMemoryStore())
	reader, _ := testkit.MustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	h := forwardauth.New(m, forwardauth.Require("", "/admin", "admin"))
	for _, uri := range []string{
		"/%2561dmin/x%25",
		"/%2561dmin/%25zz",
		"/public/%252e%252e/admin/%25",
		"/%252561dmin/%25",
	} {
		w := check(h, "GET", "/auth", "X-API-Key", reader, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", uri)
		assert.Equal(t, http.StatusForbidden, w.Code, uri)
	}
}
