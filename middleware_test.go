package apikey_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fixture struct {
	m        *apikey.Manager
	store    *spyStore
	clock    *fakeClock
	valid    string // owner alice, scopes bots:read
	other    string // owner bob, another valid key
	disabled string
	expired  string
	unknown  string // well formed, never stored here
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: newSpyStore(), clock: newFakeClock()}
	f.m = newManager(t, f.store, apikey.WithClock(f.clock.Now))
	f.valid, _ = mustCreate(t, f.m, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
	f.other, _ = mustCreate(t, f.m, apikey.NewKey{Owner: "bob"})
	var dk apikey.Key
	f.disabled, dk = mustCreate(t, f.m, apikey.NewKey{})
	_, err := f.m.Disable(ctx, dk.ID)
	require.NoError(t, err)
	f.expired, _ = mustCreate(t, f.m, apikey.NewKey{ExpiresAt: f.clock.Now().Add(time.Minute)})
	f.unknown, _ = mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})
	f.clock.Advance(time.Minute)
	return f
}

func body(t *testing.T, w *httptest.ResponseRecorder) apikey.ErrorBody {
	t.Helper()
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var b apikey.ErrorBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	return b
}

// The body of a refusal reads as the README shows it: "<key>", not
// "\u003ckey\u003e".
func TestErrorBodyIsPlainJSON(t *testing.T) {
	f := newFixture(t)
	w := serve(f.m.Middleware()(whoami), get("/", "Authorization", "Bearer"+f.valid))
	assert.Equal(t, `{"code":-1,"msg":"Missing API key: send it in the X-Api-Key header, Authorization: Bearer <key>, Authorization: Token <key> or the x-api-key query parameter"}`+"\n", w.Body.String())
}

// The middleware keeps its own copy of the sources it was given: a slice
// the caller changes afterwards changes nothing.
func TestWithSourcesKeepsACopy(t *testing.T) {
	f := newFixture(t)
	sources := []apikey.Source{apikey.FromHeader("X-API-Key")}
	h := f.m.Middleware(apikey.WithSources(sources...))(whoami)
	sources[0] = apikey.FromQuery("k")
	assert.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", f.valid)).Code)
	assert.Equal(t, http.StatusUnauthorized, serve(h, get("/?k="+f.valid)).Code)
}

func TestMiddlewareSources(t *testing.T) {
	f := newFixture(t)
	h := f.m.Middleware()(whoami)
	q := url.QueryEscape
	tests := []struct {
		name string
		req  *http.Request
	}{
		{"X-API-Key", get("/", "X-API-Key", f.valid)},
		{"x-api-key lower-case header", get("/", "x-api-key", f.valid)},
		{"Bearer", get("/", "Authorization", "Bearer "+f.valid)},
		{"bearer lower-case", get("/", "Authorization", "bearer "+f.valid)},
		{"BEARER upper-case", get("/", "Authorization", "BEARER "+f.valid)},
		{"Bearer with two spaces", get("/", "Authorization", "Bearer  "+f.valid)},
		{"Bearer and a tab", get("/", "Authorization", "Bearer\t"+f.valid)},
		{"Bearer, spaces and tabs", get("/", "Authorization", "bearer \t "+f.valid)},
		{"Authorization with whitespace around", get("/", "Authorization", " \tToken "+f.valid+"\t ")},
		{"X-API-Key with whitespace around", get("/", "X-API-Key", "\t "+f.valid+" \t")},
		{"Token", get("/", "Authorization", "Token "+f.valid)},
		{"token lower-case", get("/", "Authorization", "token "+f.valid)},
		{"query", get("/?x-api-key=" + q(f.valid))},
		{"query among others", get("/?a=1&x-api-key=" + q(f.valid) + "&b=2")},
		{"same key in every source", get("/?x-api-key="+q(f.valid), "X-API-Key", f.valid, "Authorization", "Bearer "+f.valid)},
		{"same key twice in one header", get("/", "X-API-Key", f.valid, "X-API-Key", f.valid)},
		{"other Authorization scheme ignored", get("/", "X-API-Key", f.valid, "Authorization", "Basic dXNlcjpwYXNz")},
		{"empty header ignored", get("/", "X-API-Key", "", "Authorization", "Bearer "+f.valid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.req)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, "alice", w.Body.String())
		})
	}
}

func TestMiddlewareRefusals(t *testing.T) {
	f := newFixture(t)
	h := f.m.Middleware()(whoami)
	q := url.QueryEscape
	const missing = `Bearer realm="api"`
	const invalid = `Bearer realm="api", error="invalid_token"`
	tests := []struct {
		name      string
		req       *http.Request
		status    int
		msg       string
		challenge string
	}{
		{"no key", get("/"), 401, "Missing API key", missing},
		{"empty X-API-Key", get("/", "X-API-Key", ""), 401, "Missing API key", missing},
		{"X-API-Key of spaces and tabs", get("/", "X-API-Key", " \t "), 401, "Missing API key", missing},
		{"empty query value", get("/?x-api-key="), 401, "Missing API key", missing},
		{"only Basic auth", get("/", "Authorization", "Basic dXNlcjpwYXNz"), 401, "Missing API key", missing},
		{"key glued to scheme", get("/", "Authorization", "Bearer"+f.valid), 401, "Missing API key: send it in the X-Api-Key header, Authorization: Bearer <key>, Authorization: Token <key> or the x-api-key query parameter", missing},
		{"scheme alone", get("/", "Authorization", "Bearer"), 401, "Invalid API key", invalid},
		{"scheme and space", get("/", "Authorization", "Bearer "), 401, "Invalid API key", invalid},
		{"scheme and tab", get("/", "Authorization", "Bearer\t"), 401, "Invalid API key", invalid},
		{"token and tab", get("/", "Authorization", "Bearer\t"+f.valid+"\tx"), 401, "Invalid API key", invalid},
		{"token with space", get("/", "Authorization", "Bearer "+f.valid+" x"), 401, "Invalid API key", invalid},
		{"token with comma", get("/", "Authorization", "Bearer "+f.valid+",x"), 401, "Invalid API key", invalid},
		{"unknown", get("/", "X-API-Key", f.unknown), 401, "Invalid API key", invalid},
		{"disabled", get("/", "X-API-Key", f.disabled), 401, "Invalid API key", invalid},
		{"expired", get("/", "X-API-Key", f.expired), 401, "Invalid API key", invalid},
		{"garbage", get("/", "X-API-Key", "hello"), 401, "Invalid API key", invalid},
		{"non-ASCII", get("/", "X-API-Key", "ak_ключ"), 401, "Invalid API key", invalid},
		{"oversized", get("/", "X-API-Key", strings.Repeat("a", 4096)), 401, "Invalid API key", invalid},
		{"bad query escape", get("/?x-api-key=%zz"), 401, "Invalid API key", invalid},
		{"semicolon in the query key", get("/?x-api-key=" + q(f.valid) + ";x-api-key=" + q(f.other)), 401, "Invalid API key", invalid},
		{"two keys in two headers", get("/", "X-API-Key", f.valid, "Authorization", "Bearer "+f.other), 400, "Conflicting API keys", ""},
		{"two X-API-Key values", get("/", "X-API-Key", f.valid, "X-API-Key", f.other), 400, "Conflicting API keys", ""},
		{"two query keys", get("/?x-api-key=" + q(f.valid) + "&x-api-key=" + q(f.other)), 400, "Conflicting API keys", ""},
		{"valid and invalid", get("/", "X-API-Key", f.valid, "Authorization", "Token "+f.unknown), 400, "Conflicting API keys", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.req)
			require.Equal(t, tt.status, w.Code)
			assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: tt.msg}, body(t, w))
			assert.Equal(t, tt.challenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			assert.NotContains(t, w.Body.String(), "ak_", "no key in the body")
		})
	}
}

func TestMiddlewareRefusesOversizedBeforeStore(t *testing.T) {
	f := newFixture(t)
	h := f.m.Middleware()(whoami)
	before := f.store.Finds.Load()
	for _, v := range []string{strings.Repeat("a", 1<<20), "ak_" + strings.Repeat("A", 500), f.valid[:len(f.valid)-1] + "!"} {
		w := serve(h, get("/", "X-API-Key", v))
		assert.Equal(t, http.StatusUnauthorized, w.Code)
	}
	assert.Equal(t, before, f.store.Finds.Load(), "malformed keys never reach the store")
}

func TestMiddlewareStoreFailureIs503(t *testing.T) {
	f := newFixture(t)
	called := false
	h := f.m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	f.store.FailWith(errors.New("dial tcp 127.0.0.1:5432: connection refused"))
	w := serve(h, get("/", "X-API-Key", f.valid))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Service unavailable"}, body(t, w))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	assert.NotContains(t, w.Body.String(), "5432", "store errors stay on the server")
	assert.False(t, called, "fails closed")
	f.store.Heal()
	assert.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", f.valid)).Code)
}

func TestMiddlewareSourceSelectionAndOrder(t *testing.T) {
	f := newFixture(t)
	headerOnly := f.m.Middleware(apikey.WithSources(apikey.FromHeader("X-API-Key")))(whoami)
	w := serve(headerOnly, get("/?x-api-key="+url.QueryEscape(f.valid)))
	assert.Equal(t, http.StatusUnauthorized, w.Code, "query source switched off")
	assert.Equal(t, `ApiKey realm="api"`, w.Header().Get("WWW-Authenticate"), "no Authorization source: ApiKey challenge")
	w = serve(headerOnly, get("/", "Authorization", "Bearer "+f.valid))
	assert.Equal(t, http.StatusUnauthorized, w.Code, "bearer source switched off")
	assert.Equal(t, http.StatusOK, serve(headerOnly, get("/", "X-API-Key", f.valid)).Code)

	custom := f.m.Middleware(apikey.WithSources(apikey.FromHeader("X-Custom-Key"), apikey.FromQuery("key")), apikey.WithRealm("bots"))(whoami)
	assert.Equal(t, http.StatusOK, serve(custom, get("/", "X-Custom-Key", f.valid)).Code)
	assert.Equal(t, http.StatusOK, serve(custom, get("/?key="+url.QueryEscape(f.valid))).Code)
	w = serve(custom, get("/", "X-API-Key", f.valid))
	assert.Equal(t, `ApiKey realm="bots"`, w.Header().Get("WWW-Authenticate"))

	// The order decides which of two problems is reported: here a broken
	// Bearer header and two different X-API-Key values.
	req := func() *http.Request {
		return get("/", "Authorization", "Bearer a,b", "X-API-Key", f.valid, "X-API-Key", f.other)
	}
	var seen error
	record := apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		seen = err
		apikey.DefaultErrorHandler(w, r, err)
	})
	bearerFirst := f.m.Middleware(record, apikey.WithSources(apikey.FromAuthorization("Bearer"), apikey.FromHeader("X-API-Key")))(whoami)
	assert.Equal(t, http.StatusUnauthorized, serve(bearerFirst, req()).Code)
	assert.ErrorIs(t, seen, apikey.ErrMalformedKey)
	headerFirst := f.m.Middleware(record, apikey.WithSources(apikey.FromHeader("X-API-Key"), apikey.FromAuthorization("Bearer")))(whoami)
	assert.Equal(t, http.StatusBadRequest, serve(headerFirst, req()).Code)
	assert.ErrorIs(t, seen, apikey.ErrConflictingKeys)
}

func TestMiddlewareErrorHandler(t *testing.T) {
	f := newFixture(t)
	var got []error
	h := f.m.Middleware(apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = append(got, err)
		w.Header().Del("WWW-Authenticate")
		http.Error(w, "nope", http.StatusTeapot)
	}))(whoami)
	for _, key := range []string{"", "junk", f.unknown, f.disabled, f.expired} {
		w := serve(h, get("/", "X-API-Key", key))
		assert.Equal(t, http.StatusTeapot, w.Code)
		assert.Equal(t, "nope\n", w.Body.String())
		assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	}
	f.store.FailWith(errors.New("down"))
	serve(h, get("/", "X-API-Key", f.valid))
	want := []error{apikey.ErrMissingKey, apikey.ErrMalformedKey, apikey.ErrUnknownKey,
		apikey.ErrKeyDisabled, apikey.ErrKeyExpired, apikey.ErrStoreUnavailable}
	require.Len(t, got, len(want))
	for i := range want {
		assert.ErrorIs(t, got[i], want[i])
	}
}

func TestStatusCodeAndMessage(t *testing.T) {
	tests := []struct {
		err    error
		status int
		msg    string
	}{
		{apikey.ErrMissingKey, 401, "Missing API key"},
		{apikey.ErrMalformedKey, 401, "Invalid API key"},
		{apikey.ErrUnknownKey, 401, "Invalid API key"},
		{apikey.ErrKeyDisabled, 401, "Invalid API key"},
		{apikey.ErrKeyExpired, 401, "Invalid API key"},
		{apikey.ErrConflictingKeys, 400, "Conflicting API keys"},
		{apikey.ErrInsufficientScope, 403, "Insufficient scope"},
		{apikey.ErrStoreUnavailable, 503, "Service unavailable"},
		{context.DeadlineExceeded, 503, "Service unavailable"},
		{context.Canceled, 503, "Service unavailable"},
		// The policy refusals, as README's table gives them.
		{apikey.ErrIPNotAllowed, 403, "Access denied from this IP address"},
		{apikey.ErrRateLimited, 429, "Rate limit exceeded"},
		{&apikey.RateLimitError{Status: apikey.LimitStatus{Limit: 60, Reset: time.Second}}, 429, "Rate limit exceeded"},
		{apikey.ErrUsageExhausted, 402, "API key usage limit reached"},
		{apikey.ErrKeyTooOld, 401, "Invalid API key"},
		{errors.New("other"), 500, "Internal server error"},
	}
	for _, tt := range tests {
		wrapped := errors.Join(errors.New("detail"), tt.err)
		assert.Equal(t, tt.status, apikey.StatusCode(wrapped), tt.err)
		assert.Equal(t, tt.msg, apikey.Message(wrapped), tt.err)
	}
}

// RetryAfter and SetRetryHeaders tell a client when to come back, as the
// middleware does, for the refusals that waiting mends, and nothing for
// the others.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wait    time.Duration
		headers http.Header
	}{
		{"rate limited", &apikey.RateLimitError{Status: apikey.LimitStatus{Limit: 60, Remaining: -1, Reset: 1500 * time.Millisecond}}, 2 * time.Second,
			http.Header{"Retry-After": {"2"}, "Ratelimit-Limit": {"60"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"2"}}},
		{"window about to end", &apikey.RateLimitError{Status: apikey.LimitStatus{Limit: 5, Reset: time.Millisecond}}, time.Second,
			http.Header{"Retry-After": {"1"}, "Ratelimit-Limit": {"5"}, "Ratelimit-Remaining": {"0"}, "Ratelimit-Reset": {"1"}}},
		{"uses refill", fmt.Errorf("wrapped: %w", &apikey.UsageExhaustedError{Reset: 90 * time.Minute}), 90 * time.Minute,
			http.Header{"Retry-After": {"5400"}}},
		{"uses never refill", &apikey.UsageExhaustedError{}, 0, http.Header{}},
		{"spent, no detail", apikey.ErrUsageExhausted, 0, http.Header{}},
		{"rate limited, no detail", apikey.ErrRateLimited, 0, http.Header{}},
		{"bad key", apikey.ErrUnknownKey, 0, http.Header{}},
		{"store down", apikey.ErrStoreUnavailable, 0, http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, ok := apikey.RetryAfter(tt.err)
			assert.Equal(t, tt.wait, wait)
			assert.Equal(t, tt.wait > 0, ok)
			h := http.Header{}
			apikey.SetRetryHeaders(h, tt.err)
			assert.Equal(t, tt.headers, h)
		})
	}
}

func TestMiddlewareStripCredentials(t *testing.T) {
	f := newFixture(t)
	var seen *http.Request
	spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		_, ok := apikey.FromContext(r.Context())
		assert.True(t, ok)
	})
	h := f.m.Middleware(apikey.WithStripCredentials())(spy)

	orig := get("/path?a=1&x-api-key="+url.QueryEscape(f.valid)+"&b=2", "X-API-Key", f.valid,
		"Authorization", "Bearer "+f.valid, "X-Other", "kept")
	require.Equal(t, http.StatusOK, serve(h, orig).Code)
	assert.Empty(t, seen.Header.Get("X-API-Key"))
	assert.Empty(t, seen.Header.Values("Authorization"))
	assert.Equal(t, "kept", seen.Header.Get("X-Other"))
	assert.Equal(t, url.Values{"a": {"1"}, "b": {"2"}}, seen.URL.Query())
	assert.NotContains(t, seen.RequestURI, "x-api-key")
	assert.NotContains(t, seen.URL.String(), f.valid)
	// The caller's request is left alone.
	assert.Equal(t, f.valid, orig.Header.Get("X-API-Key"))
	assert.Contains(t, orig.URL.RawQuery, "x-api-key")

	// Another Authorization scheme is not ours to strip.
	require.Equal(t, http.StatusOK, serve(h, get("/", "X-API-Key", f.valid, "Authorization", "Basic dXNlcjpwYXNz")).Code)
	assert.Equal(t, "Basic dXNlcjpwYXNz", seen.Header.Get("Authorization"))

	// Without the option the next handler sees the request as it came.
	plain := f.m.Middleware()(spy)
	require.Equal(t, http.StatusOK, serve(plain, get("/", "X-API-Key", f.valid)).Code)
	assert.Equal(t, f.valid, seen.Header.Get("X-API-Key"))
}

func TestMiddlewareSkipAndPreflight(t *testing.T) {
	f := newFixture(t)
	protectedRan := false
	// A handler for every method, as mux.HandleFunc("/purge", ...) is: it
	// must never run without a key, preflight or not.
	protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protectedRan = true
		_, ok := apikey.FromContext(r.Context())
		assert.False(t, ok, "skipped requests carry no principal")
		w.WriteHeader(http.StatusNoContent)
	})
	cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.WriteHeader(http.StatusOK)
	})
	h := f.m.Middleware(apikey.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }), apikey.WithPreflight(cors))(protected)
	assert.Equal(t, http.StatusNoContent, serve(h, get("/healthz")).Code)
	assert.True(t, protectedRan, "skipped routes reach the handler")
	protectedRan = false
	assert.Equal(t, http.StatusUnauthorized, serve(h, get("/healthzz")).Code)

	pre := func() *http.Request {
		r := httptest.NewRequest(http.MethodOptions, "/purge", nil)
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		return r
	}
	w := serve(h, pre())
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "https://app.example", w.Header().Get("Access-Control-Allow-Origin"), "the CORS handler answered")
	assert.False(t, protectedRan, "a preflight never reaches the protected handler")

	noCORS := f.m.Middleware(apikey.WithPreflight(nil))(protected)
	assert.Equal(t, http.StatusNoContent, serve(noCORS, pre()).Code)
	assert.False(t, protectedRan)

	notPre := httptest.NewRequest(http.MethodOptions, "/purge", nil)
	assert.Equal(t, http.StatusUnauthorized, serve(h, notPre).Code, "a bare OPTIONS is not a preflight")
	strict := f.m.Middleware()(protected)
	assert.Equal(t, http.StatusUnauthorized, serve(strict, pre()).Code, "preflights need the option")
	assert.False(t, protectedRan)
}

func TestMiddlewarePanicsOnMisconfiguration(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	assert.Panics(t, func() { m.Middleware(apikey.WithSources()) })
	assert.Panics(t, func() { m.Middleware(apikey.WithSources(apikey.Source{})) })
	assert.Panics(t, func() { m.Middleware(apikey.WithSources(apikey.FromHeader(""))) })
	assert.Panics(t, func() { m.Middleware(apikey.WithErrorHandler(nil)) })
	assert.Panics(t, func() { m.Middleware(apikey.WithRealm(`a"b`)) })
	assert.Panics(t, func() { apikey.RequireScopes() })
	assert.Panics(t, func() { apikey.RequireScopes("") })
	assert.Panics(t, func() { apikey.RequireScopes("bots read") })
}

func TestRequireScopes(t *testing.T) {
	f := newFixture(t)
	auth := f.m.Middleware()
	readers := auth(apikey.RequireScopes("bots:read")(whoami))
	writers := auth(apikey.RequireScopes("bots:read", "bots:write")(whoami))

	w := serve(readers, get("/", "X-API-Key", f.valid))
	assert.Equal(t, http.StatusOK, w.Code)
	w = serve(writers, get("/", "X-API-Key", f.valid))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Insufficient scope"}, body(t, w))
	assert.Empty(t, w.Header().Get("WWW-Authenticate"), "a 403 carries no challenge")
	w = serve(readers, get("/", "X-API-Key", f.other))
	assert.Equal(t, http.StatusForbidden, w.Code, "bob has no scopes")
	assert.Equal(t, http.StatusUnauthorized, serve(readers, get("/")).Code)

	// Forgetting the key middleware fails closed.
	w = serve(apikey.RequireScopes("bots:read")(whoami), get("/", "X-API-Key", f.valid))
	assert.Equal(t, http.StatusUnauthorized, w.Code)

	// The middleware's error handler answers for RequireScopes too.
	var seen error
	custom := f.m.Middleware(apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		seen = err
		w.WriteHeader(apikey.StatusCode(err))
	}))(apikey.RequireScopes("admin")(whoami))
	assert.Equal(t, http.StatusForbidden, serve(custom, get("/", "X-API-Key", f.valid)).Code)
	assert.ErrorIs(t, seen, apikey.ErrInsufficientScope)

	// A principal set by NewContext (as in handler tests) is honoured.
	ctx := apikey.NewContext(context.Background(), apikey.Principal{Owner: "t"}.WithScopes("bots:read"))
	assert.Equal(t, http.StatusOK, serve(apikey.RequireScopes("bots:read")(whoami), get("/").WithContext(ctx)).Code)
	assert.Equal(t, http.StatusForbidden, serve(apikey.RequireScopes("x")(whoami), get("/").WithContext(ctx)).Code)
}

func TestMiddlewareConcurrentRequests(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(f.m.Middleware()(whoami))
	defer srv.Close()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				key := f.valid
				want := http.StatusOK
				if (g+i)%3 == 0 {
					key, want = f.unknown, http.StatusUnauthorized
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
				req.Header.Set("X-API-Key", key)
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				_ = resp.Body.Close()
				if resp.StatusCode != want {
					errs <- errors.New(resp.Status)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

// Review finding 7: a global middleware and a sub-router's of the same
// Manager verify a request once, so its uses and rate limit count once.
func TestNestedMiddlewareCountsOnce(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	plain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 2, RateLimit: apikey.RateLimit{Limit: 10, Window: time.Hour}})
	for _, outer := range []apikey.MiddlewareOption{apikey.WithRealm("api"), apikey.WithStripCredentials()} {
		h := m.Middleware(outer)(m.Middleware()(whoami))
		w := serve(h, get("/", "X-API-Key", plain))
		require.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, "alice", w.Body.String())
	}
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(0), *got.RemainingUses, "two requests, two uses")

	// Another Manager's middleware inside still verifies for itself, and a
	// different key inside is verified, not waved through.
	other := newManager(t, apikey.NewMemoryStore())
	h := m.Middleware()(other.Middleware()(whoami))
	fresh, _ := mustCreate(t, m, apikey.NewKey{})
	assert.Equal(t, http.StatusUnauthorized, serve(h, get("/", "X-API-Key", fresh)).Code)
	bob, _ := mustCreate(t, m, apikey.NewKey{Owner: "bob"})
	injectOther := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-API-Key", bob)
		m.Middleware()(whoami).ServeHTTP(w, r)
	})
	w := serve(m.Middleware()(injectOther), get("/", "X-API-Key", fresh))
	assert.Equal(t, "bob", w.Body.String(), "a changed key is verified again")
}

// Review finding 8: stripping removes the key in every spelling and leaves
// the rest of the query exactly as it was.
func TestStripKeepsTheRestOfTheQuery(t *testing.T) {
	f := newFixture(t)
	var seen *http.Request
	h := f.m.Middleware(apikey.WithStripCredentials())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))
	key := url.QueryEscape(f.valid)
	tests := []struct{ query, want string }{
		{"a=1;b=2&x-api-key=" + key + "&c=3", "a=1;b=2&c=3"},
		{"z=9&x%2Dapi%2Dkey=" + key + "&a=%20x+y", "z=9&a=%20x+y"},
		{"x-api-key=" + key, ""},
		{"x-api-key=" + key + "&x-api-key=" + key + "&keep", "keep"},
	}
	for _, tt := range tests {
		r := get("/p?" + tt.query)
		require.Equal(t, http.StatusOK, serve(h, r).Code, tt.query)
		assert.Equal(t, tt.want, seen.URL.RawQuery, tt.query)
		assert.NotContains(t, seen.RequestURI, f.valid[3:])
	}
	// A form parsed before the middleware loses the key too.
	r := get("/p?x-api-key=" + key + "&q=1")
	require.NoError(t, r.ParseForm())
	serve(h, r)
	assert.Empty(t, seen.Form.Get("x-api-key"))
	assert.Equal(t, "1", seen.Form.Get("q"))
	assert.Equal(t, f.valid, r.Form.Get("x-api-key"), "the caller's request is left alone")
}

// The handler can tell where the key came from, and a key that came in the
// URL as well as in a header counts as sent in the query.
func TestSourceFromContext(t *testing.T) {
	f := newFixture(t)
	var got apikey.Source
	var ok bool
	h := f.m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = apikey.SourceFromContext(r.Context())
	}))
	for _, tc := range []struct {
		name string
		r    *http.Request
		kind apikey.SourceKind
		src  string
	}{
		{"header", get("/", "X-API-Key", f.valid), apikey.SourceHeader, "X-Api-Key"},
		{"bearer", get("/", "Authorization", "bearer "+f.valid), apikey.SourceAuthorization, "Bearer"},
		{"token", get("/", "Authorization", "Token "+f.valid), apikey.SourceAuthorization, "Token"},
		{"query", get("/?x-api-key=" + f.valid), apikey.SourceQuery, "x-api-key"},
		{"header and query", get("/?x-api-key="+f.valid, "X-API-Key", f.valid), apikey.SourceQuery, "x-api-key"},
	} {
		got, ok = apikey.Source{}, false
		w := serve(h, tc.r)
		require.Equal(t, http.StatusOK, w.Code, tc.name)
		require.True(t, ok, tc.name)
		assert.Equal(t, tc.kind, got.Kind(), tc.name)
		assert.Equal(t, tc.src, got.Name(), tc.name)
	}
	_, ok = apikey.SourceFromContext(apikey.NewContext(context.Background(), apikey.Principal{Owner: "x"}))
	assert.False(t, ok, "NewContext has no source")
	_, ok = apikey.SourceFromContext(context.Background())
	assert.False(t, ok)
}

// keyCopies lists where in r the secret of key still appears: header
// names and values, the raw query, the request URI, the URL and the parsed
// forms. Empty means the request holds no copy of it.
func keyCopies(r *http.Request, key string) []string {
	secret := secretOf(key)
	var found []string
	look := func(where, s string) {
		if strings.Contains(s, secret) {
			found = append(found, where)
		}
	}
	for name, vs := range r.Header {
		look("header name", name)
		for _, v := range vs {
			look("header "+name, v)
		}
	}
	look("RawQuery", r.URL.RawQuery)
	look("RequestURI", r.RequestURI)
	look("URL", r.URL.String())
	for where, form := range map[string]url.Values{"Form": r.Form, "PostForm": r.PostForm} {
		for name, vs := range form {
			look(where+" name", name)
			for _, v := range vs {
				look(where+" "+name, v)
			}
		}
	}
	return found
}

// Review finding 5: a credential after a tab, or in a ';'-separated part
// of the query, is a credential like any other: a different key there is a
// conflict, the same key is fine, and stripping removes it.
func TestMiddlewareSecondCredential(t *testing.T) {
	f := newFixture(t)
	var seen *http.Request
	spy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		_, _ = w.Write([]byte("ok"))
	})
	strip := f.m.Middleware(apikey.WithStripCredentials())(spy)
	plain := f.m.Middleware()(spy)
	k1, k2 := f.valid, f.other
	tests := []struct {
		name    string
		query   string
		headers []string
		status  int
		// stripped is the query the handler sees after stripping, for 200s.
		stripped string
	}{
		{"Bearer<TAB> a second key", "", []string{"X-API-Key", k1, "Authorization", "Bearer\t" + k2}, 400, ""},
		{"Bearer<TAB> the same key", "", []string{"X-API-Key", k1, "Authorization", "Bearer\t" + k1}, 200, ""},
		{"token<TAB><SP> a second key", "", []string{"X-API-Key", k1, "Authorization", "token\t " + k2}, 400, ""},
		{"second key with a space after it", "", []string{"X-API-Key", k1, "Authorization", "Bearer " + k2 + " "}, 400, ""},
		{"X-API-Key with spaces and Bearer<TAB>, same key", "", []string{"X-API-Key", " " + k1 + " ", "Authorization", " Bearer\t" + k1}, 200, ""},
		{"';' part holds a second key", "a=1;x-api-key=" + k2 + "&x-api-key=" + k1, nil, 400, ""},
		{"';' part holds the same key", "a=1;x-api-key=" + k1 + "&x-api-key=" + k1, nil, 200, "a=1"},
		{"';' part with an escaped name, second key", "a=1;x%2Dapi%2Dkey=" + k2, []string{"X-API-Key", k1}, 400, ""},
		{"';' part with an escaped name, same key", "a=1;x%2Dapi%2Dkey=" + k1, []string{"X-API-Key", k1}, 200, "a=1"},
		{"';' part in the middle, same key", "z=%20&b=2;x-api-key=" + k1 + ";c=3&d", []string{"Authorization", "Bearer\t" + k1}, 200, "z=%20&b=2;c=3&d"},
		{"';' part alone, same key", "x-api-key=" + k1 + "&;x-api-key=" + k1 + "&e=5", nil, 200, "e=5"},
		{"';' part after an undecodable name", "%zz;x-api-key=" + k2, []string{"X-API-Key", k1}, 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, h := range []http.Handler{plain, strip} {
				stripping := i == 1
				seen = nil
				r := get("/p?"+tt.query, tt.headers...)
				// An outer handler parsed the form; url.ParseQuery skips the
				// pairs holding ';', and says so.
				_ = r.ParseForm()
				w := serve(h, r)
				require.Equal(t, tt.status, w.Code, w.Body.String())
				if tt.status != http.StatusOK {
					assert.Nil(t, seen, "the handler never ran")
					assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "Conflicting API keys"}, body(t, w))
					continue
				}
				if !stripping {
					assert.NotEmpty(t, keyCopies(seen, k1), "without stripping the key is still there")
					continue
				}
				assert.Empty(t, keyCopies(seen, k1), "the stripped request holds no copy of the key")
				// A failure shows the key as {k1}: test output is a log too.
				assert.Equal(t, tt.stripped, strings.ReplaceAll(seen.URL.RawQuery, k1, "{k1}"), "the rest of the query is kept byte for byte")
				assert.NotEmpty(t, keyCopies(r, k1), "the caller's request is left alone")
			}
		})
	}
}

// Review finding 5: HTTP/1.1 servers drop the spaces and tabs around a
// header value and HTTP/2 servers do not, so the same request sent either
// way must get the same answer. The HTTP/1.1 requests are written by hand,
// since net/http's client trims values itself.
func TestMiddlewareSameOverHTTP1AndHTTP2(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/", f.m.Middleware()(whoami))
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%q", r.Header.Get("X-Echo"))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	defer h2.CloseIdleConnections()

	type answer struct {
		status int
		body   string
	}
	viaHTTP2 := func(t *testing.T, path string, headers [][2]string) answer {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		for _, h := range headers {
			req.Header[h[0]] = append(req.Header[h[0]], h[1])
		}
		resp, err := h2.RoundTrip(req)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, 2, resp.ProtoMajor)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return answer{resp.StatusCode, string(b)}
	}
	viaHTTP1 := func(t *testing.T, path string, headers [][2]string) answer {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		defer func() { _ = conn.Close() }()
		var req strings.Builder
		req.WriteString("GET " + path + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n")
		for _, h := range headers {
			req.WriteString(h[0] + ":" + h[1] + "\r\n")
		}
		req.WriteString("\r\n")
		_, err = io.WriteString(conn, req.String())
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer func() { _ = resp.Body.Close() }()
		require.Equal(t, 1, resp.ProtoMajor)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return answer{resp.StatusCode, string(b)}
	}

	// The difference this test is about: if HTTP/2 ever trims too, the
	// cases below no longer tell the protocols apart.
	echo := [][2]string{{"X-Echo", " \tv\t "}}
	require.Equal(t, `"v"`, viaHTTP1(t, "/echo", echo).body)
	require.Equal(t, `" \tv\t "`, viaHTTP2(t, "/echo", echo).body, "HTTP/2 passes surrounding whitespace on")

	k1, k2 := f.valid, f.other
	invalid := `{"code":-1,"msg":"Invalid API key"}` + "\n"
	tests := []struct {
		name    string
		headers [][2]string
		want    answer
	}{
		{"X-API-Key with spaces around", [][2]string{{"X-API-Key", " " + k1 + " "}}, answer{200, "alice"}},
		{"X-API-Key with tabs around", [][2]string{{"X-API-Key", "\t" + k1 + "\t"}}, answer{200, "alice"}},
		{"X-API-Key of whitespace", [][2]string{{"X-API-Key", " \t "}}, answer{401, `{"code":-1,"msg":"Missing API key"}` + "\n"}},
		{"space before Bearer", [][2]string{{"Authorization", " Bearer " + k1}}, answer{200, "alice"}},
		{"tab after the key", [][2]string{{"Authorization", "Bearer " + k1 + "\t"}}, answer{200, "alice"}},
		{"tab after the scheme", [][2]string{{"Authorization", "Bearer\t" + k1}}, answer{200, "alice"}},
		{"scheme and a tab", [][2]string{{"Authorization", "Bearer\t"}}, answer{401, invalid}},
		{"scheme and a space", [][2]string{{"Authorization", "Token "}}, answer{401, invalid}},
		{"second key after a tab", [][2]string{{"X-API-Key", k1}, {"Authorization", "Bearer\t" + k2}}, answer{400, `{"code":-1,"msg":"Conflicting API keys"}` + "\n"}},
		{"second key with a space after it", [][2]string{{"X-API-Key", "\t" + k1}, {"Authorization", "Token " + k2 + " "}}, answer{400, `{"code":-1,"msg":"Conflicting API keys"}` + "\n"}},
		{"same key, whitespace everywhere", [][2]string{{"X-API-Key", " " + k1 + "\t"}, {"Authorization", "\tbearer \t" + k1 + " "}}, answer{200, "alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, viaHTTP1(t, "/", tt.headers), "HTTP/1.1")
			assert.Equal(t, tt.want, viaHTTP2(t, "/", tt.headers), "HTTP/2")
		})
	}
}
