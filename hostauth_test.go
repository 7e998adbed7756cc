package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// hostLogin stands for a service's own authentication: a session cookie
// "sid" or a bearer token that is not a key ("jwt-…").
type hostLogin struct {
	calls atomic.Int64
	down  atomic.Bool
	panic atomic.Bool
}

func (h *hostLogin) auth(r *http.Request) (apikey.Principal, bool, error) {
	h.calls.Add(1)
	if h.panic.Load() {
		panic("session decoder crashed with token " + r.Header.Get("Authorization"))
	}
	if h.down.Load() {
		return apikey.Principal{}, false, fmt.Errorf("session store: %w", apikey.ErrStoreUnavailable)
	}
	if c, err := r.Cookie("sid"); err == nil {
		if c.Value != "good-session" {
			return apikey.Principal{}, false, errors.New("session expired")
		}
		return apikey.Principal{Owner: "carol"}.WithScopes("bots:read"), true, nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if tok != "jwt-valid" {
			return apikey.Principal{}, false, errors.New("bad signature")
		}
		return apikey.Principal{Owner: "dave"}, true, nil
	}
	return apikey.Principal{}, false, nil
}

// who answers with the principal's kind and owner, or "anonymous".
var who = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		fmt.Fprint(w, "anonymous")
		return
	}
	fmt.Fprintf(w, "%s %s", p.Kind(), p.Owner)
})

// The host's own login and API keys on the same routes: a key-shaped
// credential is judged as a key and never falls through; anything else
// goes to the host; a request with both kinds is refused.
func TestHostAuth(t *testing.T) {
	f := newFixture(t)
	login := &hostLogin{}
	h := f.m.Middleware(apikey.WithHostAuth(login.auth))(who)
	cookie := func(v string) string { return "sid=" + v }
	for _, tc := range []struct {
		name      string
		r         *http.Request
		status    int
		body      string
		hostCalls int64
		finds     int64
	}{
		{"key in header", get("/", "X-API-Key", f.valid), 200, "key alice", 0, 1},
		{"key as Bearer", get("/", "Authorization", "Bearer "+f.valid), 200, "key alice", 0, 1},
		{"key and a session cookie: the key decides", get("/", "X-API-Key", f.other, "Cookie", cookie("good-session")), 200, "key bob", 0, 1},
		{"a JWT goes to the host, no store lookup", get("/", "Authorization", "Bearer jwt-valid"), 200, "host dave", 1, 0},
		{"a session cookie goes to the host", get("/", "Cookie", cookie("good-session")), 200, "host carol", 1, 0},
		{"a bad JWT is refused", get("/", "Authorization", "Bearer jwt-forged"), 401, `"Invalid credentials"`, 1, 0},
		{"an expired session is refused", get("/", "Cookie", cookie("old")), 401, `"Invalid credentials"`, 1, 0},
		{"nothing at all", get("/"), 401, `"Missing API key"`, 1, 0},
		{"a bad key never falls through", get("/", "Authorization", "Bearer "+testkit.ChangeLast(f.valid), "Cookie", cookie("good-session")), 401, `"Invalid API key"`, 0, 0},
		{"a malformed key with the prefix", get("/", "Authorization", "Bearer ak_wrong"), 401, `"Invalid API key"`, 0, 0},
		{"an unknown key never falls through", get("/", "Authorization", "Bearer "+f.unknown), 401, `"Invalid API key"`, 0, 1},
		{"a disabled key never falls through", get("/", "X-API-Key", f.disabled, "Cookie", cookie("good-session")), 401, `"Invalid API key"`, 0, 1},
		{"a key and a JWT: conflicting", get("/", "X-API-Key", f.valid, "Authorization", "Bearer jwt-valid"), 400, `"Conflicting API keys"`, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, finds := login.calls.Load(), f.store.Finds.Load()
			w := serve(h, tc.r)
			assert.Equal(t, tc.status, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), tc.body)
			assert.Equal(t, tc.hostCalls, login.calls.Load()-calls, "calls to the host's authenticator")
			assert.Equal(t, tc.finds, f.store.Finds.Load()-finds, "store lookups")
			if tc.status == 401 {
				assert.NotEmpty(t, w.Header().Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("host down is 503", func(t *testing.T) {
		login.down.Store(true)
		defer login.down.Store(false)
		w := serve(h, get("/", "Cookie", cookie("good-session")))
		assert.Equal(t, 503, w.Code)
	})
	t.Run("a panicking authenticator is 503, never an open door", func(t *testing.T) {
		login.panic.Store(true)
		defer login.panic.Store(false)
		w := serve(h, get("/", "Authorization", "Bearer jwt-valid"))
		assert.Equal(t, 503, w.Code)
		assert.NotContains(t, w.Body.String(), "jwt-valid")
	})
	t.Run("RequireScopes checks the scopes the host gave", func(t *testing.T) {
		scoped := f.m.Middleware(apikey.WithHostAuth(login.auth))(apikey.RequireScopes("bots:read")(who))
		assert.Equal(t, 200, serve(scoped, get("/", "Cookie", cookie("good-session"))).Code, "carol has bots:read")
		assert.Equal(t, 403, serve(scoped, get("/", "Authorization", "Bearer jwt-valid")).Code, "dave has no scopes")
		assert.Equal(t, 200, serve(scoped, get("/", "X-API-Key", f.valid)).Code)
	})
	t.Run("static keys are keys", func(t *testing.T) {
		m := newManager(t, apikey.NewMemoryStore(), apikey.WithStaticKeys(apikey.StaticKey{Key: "static-key-0123456789", ID: "static:x", Owner: "ops"}))
		h := m.Middleware(apikey.WithHostAuth(login.auth))(who)
		calls := login.calls.Load()
		w := serve(h, get("/", "Authorization", "Bearer static-key-0123456789"))
		assert.Equal(t, "key ops", w.Body.String())
		assert.Equal(t, calls, login.calls.Load())
	})
}

// Without WithHostAuth a JWT is an invalid key, as before.
func TestNoHostAuthJWTIsInvalidKey(t *testing.T) {
	f := newFixture(t)
	w := serve(f.m.Middleware()(who), get("/", "Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"))
	assert.Equal(t, 401, w.Code)
	assert.Contains(t, w.Body.String(), "Invalid API key")
}

// WithOptional: no credential is an anonymous request; a key is still
// verified, and a bad one still refused.
func TestOptional(t *testing.T) {
	f := newFixture(t)
	h := f.m.Middleware(apikey.WithOptional())(who)
	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		body   string
	}{
		{"no key", get("/"), 200, "anonymous"},
		{"a valid key", get("/", "X-API-Key", f.valid), 200, "key alice"},
		{"a bad key", get("/", "X-API-Key", "ak_wrong"), 401, "Invalid API key"},
		{"an unknown key", get("/", "X-API-Key", f.unknown), 401, "Invalid API key"},
		{"a disabled key", get("/", "X-API-Key", f.disabled), 401, "Invalid API key"},
		{"an expired key", get("/", "X-API-Key", f.expired), 401, "Invalid API key"},
		{"two keys", get("/", "X-API-Key", f.valid, "Authorization", "Bearer "+f.other), 400, "Conflicting"},
	} {
		w := serve(h, tc.r)
		assert.Equal(t, tc.status, w.Code, tc.name)
		assert.Contains(t, w.Body.String(), tc.body, tc.name)
	}
	login := &hostLogin{}
	both := f.m.Middleware(apikey.WithOptional(), apikey.WithHostAuth(login.auth))(who)
	assert.Equal(t, "anonymous", serve(both, get("/")).Body.String(), "the host knows nothing: anonymous")
	assert.Equal(t, 401, serve(both, get("/", "Cookie", "sid=old")).Code, "the host refuses: refused")
	assert.Equal(t, "host carol", serve(both, get("/", "Cookie", "sid=good-session")).Body.String())
}

// A key in a cookie, for browser clients: off by default, read when
// asked for, conflicting with another key, stripped.
func TestCookieSource(t *testing.T) {
	f := newFixture(t)
	var seen *http.Request
	h := f.m.Middleware(apikey.WithSources(apikey.FromHeader("X-API-Key"), apikey.FromCookie("api_key")), apikey.WithStripCredentials())(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r; who(w, r) }))
	w := serve(h, get("/", "Cookie", "theme=dark; api_key="+f.valid+"; lang=en"))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "key alice", w.Body.String())
	assert.Equal(t, []string{"theme=dark; lang=en"}, seen.Header["Cookie"], "the key's cookie is stripped, the others kept")
	src, ok := apikey.SourceFromContext(seen.Context())
	require.True(t, ok)
	assert.Equal(t, apikey.SourceCookie, src.Kind())

	assert.Equal(t, 400, serve(h, get("/", "Cookie", "api_key="+f.valid, "Cookie", "api_key="+f.other)).Code, "two cookies, two keys")
	assert.Equal(t, 400, serve(h, get("/", "Cookie", "api_key="+f.valid, "X-API-Key", f.other)).Code, "a cookie and a header")
	assert.Equal(t, 200, serve(h, get("/", "Cookie", "api_key="+f.valid, "X-API-Key", f.valid)).Code, "the same key twice")
	assert.Equal(t, 401, serve(h, get("/", "Cookie", "api_key="+f.disabled)).Code)

	// Not a default source: a key in a cookie is then misplaced.
	w = serve(f.m.Middleware()(who), get("/", "Cookie", "api_key="+f.valid))
	assert.Equal(t, 401, w.Code)
	assert.Contains(t, w.Body.String(), "send it in")
	assert.Panics(t, func() { f.m.Middleware(apikey.WithSources(apikey.FromCookie("a;b"))) })
}

// A key sent where the middleware does not read keys: still 401, but the
// client is told where to send it, the observer sees ErrMisplacedKey, and
// nothing repeats the key.
func TestMisplacedKey(t *testing.T) {
	var events []apikey.Event
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithObserver(func(_ context.Context, e apikey.Event) { events = append(events, e) }))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	basic := func(user, pass string) string {
		return "Basic " + base64Std(user+":"+pass)
	}
	h := m.Middleware()(who)
	for _, tc := range []struct {
		name  string
		r     *http.Request
		place string
	}{
		{"Authorization without a scheme", get("/", "Authorization", plain), "the Authorization header, without a scheme"},
		{"Basic, key as password", get("/", "Authorization", basic("", plain)), "Basic credentials"},
		{"Basic, key as user", get("/", "Authorization", basic(plain, "")), "Basic credentials"},
		{"Api-Key scheme", get("/", "Authorization", "Api-Key "+plain), "under the Api-Key scheme"},
		{"api_key query", get("/?api_key=" + plain), "the query parameter api_key"},
		{"apikey query", get("/?a=1&apikey=" + plain), "the query parameter apikey"},
		{"another header", get("/", "Api-Key", plain), "the Api-Key header"},
	} {
		events = nil
		w := serve(h, tc.r)
		assert.Equal(t, 401, w.Code, tc.name)
		assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Missing API key: send it in the X-Api-Key header, Authorization: Bearer <key>, Authorization: Token <key> or the x-api-key query parameter"}, body(t, w), tc.name)
		assert.Equal(t, `Bearer realm="api"`, w.Header().Get("WWW-Authenticate"), tc.name)
		require.Len(t, events, 1, tc.name)
		assert.ErrorIs(t, events[0].Err, apikey.ErrMisplacedKey, tc.name)
		assert.ErrorIs(t, events[0].Err, apikey.ErrMissingKey, tc.name)
		assert.Contains(t, events[0].Err.Error(), tc.place, tc.name)
		assert.NotContains(t, events[0].Err.Error(), secretOf(plain)[:16], tc.name)
		assert.NotContains(t, w.Body.String(), secretOf(plain)[:16], tc.name)
	}
	// Only the configured sources are named.
	w := serve(m.Middleware(apikey.WithSources(apikey.FromHeader("X-API-Key")))(who), get("/?x-api-key="+plain))
	assert.Equal(t, "Missing API key: send it in the X-Api-Key header", body(t, w).Msg)
	// Nothing key-like anywhere: the plain message.
	assert.Equal(t, "Missing API key", body(t, serve(h, get("/?q=hello", "Authorization", "Basic dXNlcjpwYXNz"))).Msg)
}

// A middleware without WithHostAuth, nested in one of the same Manager with
// it (a keys-only route group under a router that also takes logins),
// takes keys only: the host's principal the outer one vouched for is no
// key, whether the host read it from a cookie or a Bearer token.
func TestKeysOnlyMiddlewareUnderHostAuthRefusesHostPrincipals(t *testing.T) {
	f := newFixture(t)
	login := &hostLogin{}
	h := f.m.Middleware(apikey.WithHostAuth(login.auth))(f.m.Middleware()(who))
	w := serve(h, get("/", "X-API-Key", f.valid))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "key alice", w.Body.String())
	for name, r := range map[string]*http.Request{
		"session cookie": get("/", "Cookie", "sid=good-session"),
		"JWT":            get("/", "Authorization", "Bearer jwt-valid"),
	} {
		w := serve(h, r)
		assert.Equal(t, http.StatusUnauthorized, w.Code, "%s: the inner middleware takes keys only: %s", name, w.Body.String())
	}
}

// The place a misplaced key is named by never repeats a key either: a
// key pasted twice into Authorization, with a space between, puts one
// where a scheme belongs; a key can stand where a query parameter's name
// belongs too.
func TestMisplacedKeyPlaceNeverHoldsAKey(t *testing.T) {
	var events []apikey.Event
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithObserver(func(_ context.Context, e apikey.Event) { events = append(events, e) }))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	other, _ := mustCreate(t, m, apikey.NewKey{})
	h := m.Middleware()(who)
	for name, r := range map[string]*http.Request{
		"a key as the scheme":            get("/", "Authorization", plain+" "+other),
		"a key as a query name":          get("/?" + plain + "=" + other),
		"a key as a ;-query name":        get("/?a=1;" + plain + "=" + other),
		"a key as another header's name": get("/", plain, other),
	} {
		events = nil
		w := serve(h, r)
		assert.Equal(t, 401, w.Code, name)
		require.Len(t, events, 1, name)
		assert.ErrorIs(t, events[0].Err, apikey.ErrMisplacedKey, name)
		for _, k := range []string{plain, other} {
			assert.NotContains(t, events[0].Err.Error(), secretOf(k)[:16], name)
			assert.NotContains(t, strings.ToLower(events[0].Err.Error()), strings.ToLower(secretOf(k)[:16]), name)
		}
	}
}
