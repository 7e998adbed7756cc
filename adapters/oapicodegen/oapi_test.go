package apikeyoapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	nethttpmiddleware "github.com/oapi-codegen/nethttp-middleware"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	apikeyoapi "github.com/go-apikey/apikey/adapters/oapicodegen"
	"github.com/go-apikey/apikey/adapters/oapicodegen/internal/botapi"
	"github.com/go-apikey/apikey/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// bots implements the generated ServerInterface: every operation answers
// with the principal it sees, and counts the calls it serves.
type bots struct{ served atomic.Int64 }

func (b *bots) caller(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	b.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(botapi.Caller{Owner: p.Owner, KeyId: p.KeyID})
}

func (b *bots) ListBots(w http.ResponseWriter, r *http.Request)  { b.caller(w, r) }
func (b *bots) CreateBot(w http.ResponseWriter, r *http.Request) { b.caller(w, r) }
func (b *bots) Health(w http.ResponseWriter, r *http.Request) {
	if _, ok := apikey.FromContext(r.Context()); ok {
		http.Error(w, "a public operation got a principal", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(botapi.Caller{Owner: "nobody"})
}

// validator is nethttp-middleware's request validator for the generated
// spec, authenticating with auth and answering with WriteError.
func validator(t *testing.T, auth openapi3filter.AuthenticationFunc, multiError bool) func(http.Handler) http.Handler {
	t.Helper()
	spec, err := botapi.GetSpec()
	require.NoError(t, err)
	return nethttpmiddleware.OapiRequestValidatorWithOptions(spec, &nethttpmiddleware.Options{
		Options: openapi3filter.Options{AuthenticationFunc: auth, MultiError: multiError},
		ErrorHandlerWithOpts: func(_ context.Context, err error, w http.ResponseWriter, r *http.Request, opts nethttpmiddleware.ErrorHandlerOpts) {
			if !apikeyoapi.WriteError(w, r, err) {
				http.Error(w, err.Error(), opts.StatusCode)
			}
		},
	})
}

type fixture struct {
	keys     *apikey.Manager
	store    *testkit.SpyStore
	clock    *testkit.FakeClock
	bots     *bots
	srv      *httptest.Server
	reader   string // alice, scope bots:read
	writer   string // bob, scopes bots:read and bots:write
	disabled string
	unknown  string // well formed, never issued here
}

// serve runs the generated server behind the validator on a loopback
// port.
func serve(t *testing.T, opts ...apikey.Option) *fixture {
	t.Helper()
	f := &fixture{store: testkit.NewSpyStore(), clock: testkit.NewFakeClock(), bots: &bots{}}
	f.keys = testkit.NewManager(t, f.store, append([]apikey.Option{apikey.WithClock(f.clock.Now)}, opts...)...)
	f.reader, _ = testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
	f.writer, _ = testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "bob", Scopes: []string{"bots:read", "bots:write"}})
	var dk apikey.Key
	f.disabled, dk = testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}})
	_, err := f.keys.Disable(context.Background(), dk.ID)
	require.NoError(t, err)
	f.unknown, _ = testkit.MustCreate(t, testkit.NewManager(t, apikey.NewMemoryStore()), apikey.NewKey{})
	f.srv = httptest.NewServer(validator(t, apikeyoapi.Authenticate(f.keys), false)(botapi.Handler(f.bots)))
	t.Cleanup(f.srv.Close)
	return f
}

// answer is a response: its status, headers and decoded error body.
type answer struct {
	status int
	header http.Header
	body   apikey.ErrorBody
	caller botapi.Caller
}

// do sends method path with the headers (name, value...) and reads the
// answer.
func (f *fixture) do(t *testing.T, method, path string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	a := answer{status: res.StatusCode, header: res.Header}
	switch {
	case res.StatusCode == http.StatusOK:
		require.NoError(t, json.NewDecoder(res.Body).Decode(&a.caller))
	case strings.HasPrefix(res.Header.Get("Content-Type"), "application/json"):
		require.NoError(t, json.NewDecoder(res.Body).Decode(&a.body))
	}
	return a
}

func TestGeneratedClient(t *testing.T) {
	f := serve(t)
	for name, header := range map[string][2]string{
		"X-API-Key":           {"X-API-Key", f.reader},
		"Bearer":              {"Authorization", "Bearer " + f.reader},
		"bearer, lower-case":  {"Authorization", "bearer " + f.reader},
		"Bearer and a tab":    {"Authorization", "Bearer\t" + f.reader},
		"spaces around a key": {"X-API-Key", " " + f.reader + " "},
	} {
		c, err := botapi.NewClientWithResponses(f.srv.URL, botapi.WithHTTPClient(f.srv.Client()),
			botapi.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
				req.Header.Set(header[0], header[1])
				return nil
			}))
		require.NoError(t, err)
		res, err := c.ListBotsWithResponse(context.Background())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode(), "%s: %s", name, res.Body)
		assert.Equal(t, "alice", res.JSON200.Owner, name)
	}
	c, err := botapi.NewClientWithResponses(f.srv.URL, botapi.WithHTTPClient(f.srv.Client()))
	require.NoError(t, err)
	res, err := c.HealthWithResponse(context.Background())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode(), string(res.Body))
	assert.Equal(t, "nobody", res.JSON200.Owner)
}

func TestRefusals(t *testing.T) {
	f := serve(t)
	const (
		missing = `ApiKey realm="api"`
		invalid = `ApiKey realm="api", error="invalid_token"`
	)
	tests := []struct {
		name      string
		headers   []string
		status    int
		msg       string
		challenge string
	}{
		{"no key", nil, 401, "Missing API key", missing},
		{"blank X-API-Key", []string{"X-API-Key", " "}, 401, "Missing API key", missing},
		{"another scheme only", []string{"Authorization", "Basic YWxpY2U6cHc="}, 401, "Missing API key", missing},
		{"a Token is not a Bearer", []string{"Authorization", "Token " + f.reader}, 401, "Missing API key", missing},
		{"garbage", []string{"X-API-Key", "garbage"}, 401, "Invalid API key", invalid},
		{"bad checksum", []string{"X-API-Key", testkit.ChangeLast(f.reader)}, 401, "Invalid API key", invalid},
		{"unknown key", []string{"X-API-Key", f.unknown}, 401, "Invalid API key", invalid},
		{"disabled key", []string{"Authorization", "Bearer " + f.disabled}, 401, "Invalid API key", invalid},
		{"Bearer without a key", []string{"Authorization", "Bearer"}, 401, "Invalid API key", invalid},
		{"a space inside the token", []string{"Authorization", "Bearer " + f.reader + " x"}, 401, "Invalid API key", invalid},
		{"oversized", []string{"X-API-Key", strings.Repeat("a", 1025)}, 401, "Invalid API key", invalid},
		{"two keys: header and Bearer", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.writer}, 400, "Conflicting API keys", ""},
		{"two keys: Bearer and header", []string{"Authorization", "Bearer " + f.writer, "X-API-Key", f.reader}, 400, "Conflicting API keys", ""},
		{"two keys: X-API-Key twice", []string{"X-API-Key", f.reader, "X-API-Key", f.writer}, 400, "Conflicting API keys", ""},
		{"a valid key and a disabled one", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.disabled}, 400, "Conflicting API keys", ""},
	}
	for _, tt := range tests {
		a := f.do(t, http.MethodGet, "/bots", tt.headers...)
		assert.Equal(t, tt.status, a.status, tt.name)
		assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: tt.msg}, a.body, tt.name)
		assert.Equal(t, tt.challenge, a.header.Get("WWW-Authenticate"), tt.name)
	}
	assert.Zero(t, f.bots.served.Load(), "a refused request reached its handler")
}

// Scopes come from the spec: createBot's security requirements list
// bots:write.
func TestScopesFromTheSpec(t *testing.T) {
	f := serve(t)
	a := f.do(t, http.MethodPost, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Insufficient scope", a.body.Msg)
	assert.Empty(t, a.header.Get("WWW-Authenticate"), "a 403 carries no challenge")
	a = f.do(t, http.MethodPost, "/bots", "Authorization", "Bearer "+f.writer)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "bob", a.caller.Owner)
}

// Each operation tries its requirements in turn, ApiKeyAuth then
// BearerAuth: the key is looked up once however many of them there are,
// and a request refused for one reason by one and for another by the
// next is told the reason that got furthest.
func TestVerifiedOncePerRequest(t *testing.T) {
	f := serve(t)
	for _, headers := range [][]string{
		{"X-API-Key", f.reader},
		{"Authorization", "Bearer " + f.reader},
		{"X-API-Key", f.reader, "Authorization", "Bearer " + f.reader},
	} {
		finds := f.store.Finds.Load()
		a := f.do(t, http.MethodPost, "/bots", headers...)
		assert.Equal(t, http.StatusForbidden, a.status, "missing from one scheme, short of scope in the other: %v", headers[0])
		assert.Equal(t, finds+1, f.store.Finds.Load(), "%v", headers)
	}
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 1, Window: time.Minute}})
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "Authorization", "Bearer "+limited, "X-API-Key", limited).status)
}

func TestPublicOperation(t *testing.T) {
	f := serve(t)
	finds := f.store.Finds.Load()
	for _, headers := range [][]string{nil, {"X-API-Key", f.unknown}} {
		a := f.do(t, http.MethodGet, "/healthz", headers...)
		assert.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "nobody", a.caller.Owner)
	}
	assert.Equal(t, finds, f.store.Finds.Load(), "no key is looked at")
}

func TestRateLimited(t *testing.T) {
	f := serve(t)
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "dave", Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 2, Window: time.Minute}})
	f.clock.Advance(15 * time.Second)
	for range 2 {
		assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", limited).status)
	}
	a := f.do(t, http.MethodGet, "/bots", "Authorization", "Bearer "+limited)
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Equal(t, "Rate limit exceeded", a.body.Msg)
	assert.Equal(t, "45", a.header.Get("Retry-After"))
	assert.Equal(t, "2", a.header.Get("RateLimit-Limit"))
	assert.Equal(t, "0", a.header.Get("RateLimit-Remaining"))
	assert.Equal(t, "45", a.header.Get("RateLimit-Reset"))
}

func TestDefaultRateLimit(t *testing.T) {
	f := serve(t, apikey.WithDefaultRateLimit(1, time.Hour))
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
	assert.Equal(t, http.StatusTooManyRequests, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
}

func TestUsageExhausted(t *testing.T) {
	f := serve(t)
	once, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, MaxUses: 1})
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", once).status)
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", once)
	assert.Equal(t, http.StatusPaymentRequired, a.status)
	assert.Equal(t, "API key usage limit reached", a.body.Msg)
	assert.Empty(t, a.header.Get("Retry-After"), "uses that never refill: waiting does not help")

	// Uses that refill at 00:00 UTC: the client is told when.
	daily, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"},
		Refill: &apikey.Refill{Amount: 1, Interval: apikey.RefillDaily}})
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", daily).status)
	a = f.do(t, http.MethodGet, "/bots", "X-API-Key", daily)
	assert.Equal(t, http.StatusPaymentRequired, a.status)
	retry, err := strconv.Atoi(a.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Equal(t, 43200, retry, "12 hours: the fixture's clock reads 12:00 UTC")
}

func TestStoreDown(t *testing.T) {
	f := serve(t)
	f.store.FailWith(errors.New("connection refused"))
	// The Bearer requirement, tried second, finds no key: the store's
	// failure is still what the client is told.
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "Service unavailable", a.body.Msg)
	assert.Empty(t, a.header.Get("WWW-Authenticate"))
	assert.Zero(t, f.bots.served.Load())
	f.store.Heal()
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
}

// The peer address reaches the Manager.
func TestPeerAddress(t *testing.T) {
	f := serve(t)
	here, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	there, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", here).status)
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", there)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Access denied from this IP address", a.body.Msg)
}

// With openapi3filter's MultiError option the refusal comes wrapped once
// more; it is found all the same.
func TestMultiError(t *testing.T) {
	f := serve(t)
	f.srv.Config.Handler = validator(t, apikeyoapi.Authenticate(f.keys), true)(botapi.Handler(f.bots))
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", f.disabled)
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.Equal(t, "Invalid API key", a.body.Msg)
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
}

// With WithSchemes, the Bearer scheme is someone else's: a Bearer token
// is neither verified nor a conflicting key, and the function refuses to
// judge that scheme.
func TestWithSchemes(t *testing.T) {
	f := serve(t)
	keys := apikeyoapi.Authenticate(f.keys, apikeyoapi.WithSchemes("ApiKeyAuth"))
	var jwts atomic.Int64
	auth := func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecuritySchemeName == "BearerAuth" {
			jwts.Add(1)
			return errors.New("not a valid JWT")
		}
		return keys(ctx, in)
	}
	f.srv.Config.Handler = validator(t, auth, false)(botapi.Handler(f.bots))
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader, "Authorization", "Bearer eyJhbGciOi.x.y")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "alice", a.caller.Owner)
	a = f.do(t, http.MethodGet, "/bots", "Authorization", "Bearer "+f.reader)
	assert.Equal(t, http.StatusUnauthorized, a.status, "a key as a Bearer token is the JWT scheme's")
	assert.Equal(t, "Missing API key", a.body.Msg)
	assert.Equal(t, int64(1), jwts.Load(), "tried only when the key's scheme failed")

	// A key refused for its scopes, beside a token another scheme
	// accepts: the handler runs for the token's sake, and sees no
	// principal.
	accept := func(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
		if in.SecuritySchemeName == "BearerAuth" {
			return nil
		}
		return keys(ctx, in)
	}
	f.srv.Config.Handler = validator(t, accept, false)(botapi.Handler(f.bots))
	a = f.do(t, http.MethodPost, "/bots", "X-API-Key", f.reader, "Authorization", "Bearer eyJhbGciOi.x.y")
	assert.Equal(t, http.StatusInternalServerError, a.status, "the handler must find no principal: %+v", a.caller)
	a = f.do(t, http.MethodPost, "/bots", "X-API-Key", f.writer, "Authorization", "Bearer eyJhbGciOi.x.y")
	assert.Equal(t, "bob", a.caller.Owner)

	spec, err := botapi.GetSpec()
	require.NoError(t, err)
	err = keys(context.Background(), &openapi3filter.AuthenticationInput{
		SecuritySchemeName: "BearerAuth", SecurityScheme: spec.Components.SecuritySchemes["BearerAuth"].Value,
	})
	assert.ErrorIs(t, err, apikeyoapi.ErrUnsupportedScheme)
}

// The key must be where the scheme being tried declares it: a key sent
// as a Bearer token is no key for the X-API-Key scheme, though it is for
// the Bearer one.
func TestKeyInItsSchemesPlace(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{})
	auth := apikeyoapi.Authenticate(keys)
	spec, err := botapi.GetSpec()
	require.NoError(t, err)
	try := func(scheme string) error {
		r := httptest.NewRequest(http.MethodGet, "/bots", nil)
		r.Header.Set("Authorization", "Bearer "+plain)
		return auth(context.Background(), &openapi3filter.AuthenticationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, Route: &routers.Route{Spec: spec}},
			SecuritySchemeName:     scheme, SecurityScheme: spec.Components.SecuritySchemes[scheme].Value,
		})
	}
	assert.ErrorIs(t, try("ApiKeyAuth"), apikey.ErrMissingKey)
	assert.NoError(t, try("BearerAuth"))
}

func TestUnsupportedSchemes(t *testing.T) {
	keys := apikeyoapi.Authenticate(testkit.NewManager(t, apikey.NewMemoryStore()))
	for name, s := range map[string]*openapi3.SecurityScheme{
		"query":  {Type: "apiKey", In: "query", Name: "api_key"},
		"cookie": {Type: "apiKey", In: "cookie", Name: "api_key"},
		"basic":  {Type: "http", Scheme: "basic"},
		"oauth2": {Type: "oauth2"},
	} {
		err := keys(context.Background(), &openapi3filter.AuthenticationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: httptest.NewRequest(http.MethodGet, "/?api_key=x", nil)},
			SecuritySchemeName:     name, SecurityScheme: s,
		})
		assert.ErrorIs(t, err, apikeyoapi.ErrUnsupportedScheme, name)
	}
	assert.Panics(t, func() { apikeyoapi.Authenticate(nil) })
}

func TestWriteError(t *testing.T) {
	requirements := func(errs ...error) error {
		return &openapi3filter.SecurityRequirementsError{Errors: errs}
	}
	scope := fmt.Errorf("%w: %q required", apikey.ErrInsufficientScope, "bots:write")
	store := fmt.Errorf("lookup: %w", apikey.ErrStoreUnavailable)
	for name, tt := range map[string]struct {
		err    error
		status int
	}{
		"missing, then scope":         {requirements(apikey.ErrMissingKey, scope), 403},
		"scope, then missing":         {requirements(scope, apikey.ErrMissingKey), 403},
		"invalid, then missing":       {requirements(apikey.ErrKeyDisabled, apikey.ErrMissingKey), 401},
		"missing, then store":         {requirements(apikey.ErrMissingKey, store), 503},
		"rate limit, then scope":      {requirements(&apikey.RateLimitError{}, scope), 429},
		"scope, then rate limit":      {requirements(scope, &apikey.RateLimitError{}), 429},
		"rate limit, then store":      {requirements(&apikey.RateLimitError{}, store), 503},
		"conflict, then invalid":      {requirements(apikey.ErrConflictingKeys, apikey.ErrUnknownKey), 400},
		"another scheme's failure":    {requirements(errors.New("bad JWT"), apikey.ErrKeyExpired), 401},
		"in a MultiError":             {openapi3.MultiError{errors.New("bad body"), requirements(scope)}, 403},
		"wrapped by the middleware":   {fmt.Errorf("error validating route: %w", requirements(store)), 503},
		"no apikey refusal":           {requirements(errors.New("bad JWT"), apikeyoapi.ErrUnsupportedScheme), 0},
		"not a security error at all": {errors.New("no matching operation was found"), 0},
	} {
		rec := httptest.NewRecorder()
		wrote := apikeyoapi.WriteError(rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		if tt.status == 0 {
			assert.False(t, wrote, name)
			assert.Equal(t, http.StatusOK, rec.Code, "nothing written: %s", name)
			continue
		}
		assert.True(t, wrote, name)
		assert.Equal(t, tt.status, rec.Code, name)
	}
}
