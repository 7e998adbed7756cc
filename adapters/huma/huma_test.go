package apikeyhuma_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	apikeyhuma "github.com/go-apikey/apikey/adapters/huma"
	"github.com/go-apikey/apikey/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

type callerOutput struct {
	Body struct {
		Owner string `json:"owner"`
		KeyID string `json:"key_id,omitempty"`
	}
}

// bots registers operations that answer with the principal they see, and
// counts the calls they serve:
//
//	GET  /bots     ApiKeyAuth or BearerAuth, scope bots:read
//	POST /bots     ApiKeyAuth or BearerAuth, scope bots:write
//	GET  /both     ApiKeyAuth and BearerAuth together
//	GET  /default  the document's requirement: ApiKeyAuth
//	GET  /healthz  no requirement: public
//	GET  /maybe    anonymous, or ApiKeyAuth
//	GET  /oauth    another scheme only: not for this middleware
//	GET  /either   ApiKeyAuth with bots:write, or ApiKeyAuth with bots:read
type bots struct{ served atomic.Int64 }

func (b *bots) register(api huma.API) {
	either := func(scopes ...string) []map[string][]string {
		return []map[string][]string{{"ApiKeyAuth": scopes}, {"BearerAuth": scopes}}
	}
	whoami := func(ctx context.Context, _ *struct{}) (*callerOutput, error) {
		out := &callerOutput{}
		out.Body.Owner = "nobody"
		if p, ok := apikey.FromContext(ctx); ok {
			b.served.Add(1)
			out.Body.Owner, out.Body.KeyID = p.Owner, p.KeyID
		}
		return out, nil
	}
	for _, op := range []huma.Operation{
		{OperationID: "listBots", Method: http.MethodGet, Path: "/bots", Security: either("bots:read")},
		{OperationID: "createBot", Method: http.MethodPost, Path: "/bots", Security: either("bots:write")},
		{OperationID: "both", Method: http.MethodGet, Path: "/both", Security: []map[string][]string{{"ApiKeyAuth": {}, "BearerAuth": {}}}},
		{OperationID: "byDefault", Method: http.MethodGet, Path: "/default"},
		{OperationID: "health", Method: http.MethodGet, Path: "/healthz", Security: []map[string][]string{}},
		{OperationID: "maybe", Method: http.MethodGet, Path: "/maybe", Security: []map[string][]string{{}, {"ApiKeyAuth": {}}}},
		{OperationID: "oauth", Method: http.MethodGet, Path: "/oauth", Security: []map[string][]string{{"OAuth": {"read"}}}},
		{OperationID: "either", Method: http.MethodGet, Path: "/either", Security: []map[string][]string{{"ApiKeyAuth": {"bots:write"}}, {"ApiKeyAuth": {"bots:read"}}}},
	} {
		huma.Register(api, op, whoami)
	}
}

// newAPI returns a huma API on mux declaring the schemes: ApiKeyAuth
// (X-API-Key), BearerAuth and an OAuth scheme, with ApiKeyAuth as the
// document's requirement.
func newAPI(mux *http.ServeMux) huma.API {
	config := huma.DefaultConfig("Bots", "1.0.0")
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"ApiKeyAuth": {Type: "apiKey", In: "header", Name: "X-API-Key"},
		"BearerAuth": {Type: "http", Scheme: "bearer"},
		"OAuth": {Type: "oauth2", Flows: &huma.OAuthFlows{ClientCredentials: &huma.OAuthFlow{
			TokenURL: "https://example.com/token", Scopes: map[string]string{"read": "read"},
		}}},
	}
	config.Security = []map[string][]string{{"ApiKeyAuth": {}}}
	return humago.New(mux, config)
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

// serve runs the API, with the middleware for ApiKeyAuth and BearerAuth,
// on a real server on a loopback port.
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

	mux := http.NewServeMux()
	api := newAPI(mux)
	api.UseMiddleware(apikeyhuma.Middleware(api, f.keys, "ApiKeyAuth", "BearerAuth"))
	f.bots.register(api)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// answer is a response: its status, headers, and the owner or the error
// detail in its body.
type answer struct {
	status int
	header http.Header
	owner  string
	detail string
}

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
	var body struct {
		Owner  string `json:"owner"`
		Detail string `json:"detail"`
		Status int    `json:"status"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	if res.StatusCode != http.StatusOK {
		assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
		assert.Equal(t, res.StatusCode, body.Status)
	}
	a.owner, a.detail = body.Owner, body.Detail
	return a
}

func TestKeyInHeaders(t *testing.T) {
	f := serve(t)
	for name, headers := range map[string][]string{
		"X-API-Key":             {"X-API-Key", f.reader},
		"x-api-key, lower-case": {"x-api-key", f.reader},
		"Bearer":                {"Authorization", "Bearer " + f.reader},
		"bearer, lower-case":    {"Authorization", "bearer " + f.reader},
		"Bearer and a tab":      {"Authorization", "Bearer\t" + f.reader},
		"the same key twice":    {"X-API-Key", f.reader, "Authorization", "Bearer " + f.reader},
		"spaces around a key":   {"X-API-Key", " " + f.reader + " "},
	} {
		a := f.do(t, http.MethodGet, "/bots", headers...)
		assert.Equal(t, http.StatusOK, a.status, name)
		assert.Equal(t, "alice", a.owner, name)
	}
}

func TestRefusals(t *testing.T) {
	f := serve(t)
	const (
		missing = `Bearer realm="api"`
		invalid = `Bearer realm="api", error="invalid_token"`
	)
	tests := []struct {
		name      string
		headers   []string
		status    int
		detail    string
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
		{"oversized", []string{"X-API-Key", strings.Repeat("a", 1025)}, 401, "Invalid API key", invalid},
		{"two keys: header and Bearer", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.writer}, 400, "Conflicting API keys", ""},
		{"two keys: X-API-Key twice", []string{"X-API-Key", f.reader, "X-API-Key", f.writer}, 400, "Conflicting API keys", ""},
		{"a valid key and a disabled one", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.disabled}, 400, "Conflicting API keys", ""},
	}
	for _, tt := range tests {
		a := f.do(t, http.MethodGet, "/bots", tt.headers...)
		assert.Equal(t, tt.status, a.status, tt.name)
		assert.Equal(t, tt.detail, a.detail, tt.name)
		assert.Equal(t, tt.challenge, a.header.Get("WWW-Authenticate"), tt.name)
	}
	assert.Zero(t, f.bots.served.Load(), "a refused request reached its handler")
}

func TestScopesFromTheOperations(t *testing.T) {
	f := serve(t)
	a := f.do(t, http.MethodPost, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Insufficient scope", a.detail)
	assert.Empty(t, a.header.Get("WWW-Authenticate"), "a 403 carries no challenge")
	a = f.do(t, http.MethodPost, "/bots", "Authorization", "Bearer "+f.writer)
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, "bob", a.owner)
}

// Which operations need a key, and where, follows their security
// requirements as OpenAPI reads them.
func TestRequirements(t *testing.T) {
	f := serve(t)
	finds := f.store.Finds.Load()
	for _, headers := range [][]string{nil, {"X-API-Key", f.unknown}} {
		a := f.do(t, http.MethodGet, "/healthz", headers...)
		assert.Equal(t, http.StatusOK, a.status, "an empty list: public")
		assert.Equal(t, "nobody", a.owner)
		a = f.do(t, http.MethodGet, "/oauth", headers...)
		assert.Equal(t, "nobody", a.owner, "another scheme's operation is not this middleware's")
	}
	assert.Equal(t, finds, f.store.Finds.Load(), "no key is looked at")

	// No requirement of its own: the document's, ApiKeyAuth.
	assert.Equal(t, http.StatusUnauthorized, f.do(t, http.MethodGet, "/default").status)
	assert.Equal(t, "alice", f.do(t, http.MethodGet, "/default", "X-API-Key", f.reader).owner)
	a := f.do(t, http.MethodGet, "/default", "Authorization", "Bearer "+f.reader)
	assert.Equal(t, http.StatusUnauthorized, a.status, "BearerAuth is not this operation's scheme")
	assert.Equal(t, "Missing API key", a.detail)

	// Anonymous allowed: without a key, no principal; with one, it must be valid.
	assert.Equal(t, "nobody", f.do(t, http.MethodGet, "/maybe").owner)
	assert.Equal(t, "alice", f.do(t, http.MethodGet, "/maybe", "X-API-Key", f.reader).owner)
	assert.Equal(t, http.StatusUnauthorized, f.do(t, http.MethodGet, "/maybe", "X-API-Key", f.unknown).status)
	assert.Equal(t, "nobody", f.do(t, http.MethodGet, "/maybe", "Authorization", "Bearer "+f.unknown).owner,
		"a key where the operation reads none is no key for it")

	// Either requirement's scopes will do.
	assert.Equal(t, "alice", f.do(t, http.MethodGet, "/either", "X-API-Key", f.reader).owner)
	carol, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "carol"})
	assert.Equal(t, http.StatusForbidden, f.do(t, http.MethodGet, "/either", "X-API-Key", carol).status)

	// Both schemes together: the key in both places.
	assert.Equal(t, http.StatusUnauthorized, f.do(t, http.MethodGet, "/both", "X-API-Key", f.reader).status)
	assert.Equal(t, "alice", f.do(t, http.MethodGet, "/both", "X-API-Key", f.reader, "Authorization", "Bearer "+f.reader).owner)
}

func TestRateLimited(t *testing.T) {
	f := serve(t)
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "dave", Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 2, Window: time.Minute}})
	f.clock.Advance(15 * time.Second)
	for i := range 2 {
		a := f.do(t, http.MethodGet, "/bots", "X-API-Key", limited)
		assert.Equal(t, http.StatusOK, a.status)
		// An allowed request says where it stands, as the middleware's do.
		assert.Equal(t, "2", a.header.Get("RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(1-i), a.header.Get("RateLimit-Remaining"))
		assert.Equal(t, "45", a.header.Get("RateLimit-Reset"))
	}
	assert.Empty(t, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).header.Get("RateLimit-Limit"), "a key with no limit")
	a := f.do(t, http.MethodGet, "/bots", "Authorization", "Bearer "+limited)
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Equal(t, "Rate limit exceeded", a.detail)
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
	assert.Equal(t, "API key usage limit reached", a.detail)
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
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "Service unavailable", a.detail)
	assert.Empty(t, a.header.Get("WWW-Authenticate"))
	assert.Zero(t, f.bots.served.Load())
	f.store.Heal()
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
}

func TestPeerAddress(t *testing.T) {
	f := serve(t)
	here, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	there, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", here).status)
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", there)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Access denied from this IP address", a.detail)
}

// With only an apiKey scheme, the challenge names ApiKey, and an
// Authorization header is not read at all.
func TestAPIKeySchemeOnly(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{Scopes: []string{"bots:read"}})
	mux := http.NewServeMux()
	api := newAPI(mux)
	api.UseMiddleware(apikeyhuma.Middleware(api, keys, "ApiKeyAuth"))
	(&bots{}).register(api)
	f := &fixture{srv: httptest.NewServer(mux)}
	t.Cleanup(f.srv.Close)
	a := f.do(t, http.MethodGet, "/default")
	assert.Equal(t, `ApiKey realm="api"`, a.header.Get("WWW-Authenticate"))
	a = f.do(t, http.MethodGet, "/default", "X-API-Key", plain, "Authorization", "Bearer something-else")
	assert.Equal(t, "alice", a.owner, "the Authorization header is not a place of this middleware")
	a = f.do(t, http.MethodGet, "/bots", "Authorization", "Bearer "+plain)
	assert.Equal(t, http.StatusUnauthorized, a.status)
}

func TestMiddlewarePanicsOnMisconfiguration(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	api := newAPI(http.NewServeMux())
	api.OpenAPI().Components.SecuritySchemes["Query"] = &huma.SecurityScheme{Type: "apiKey", In: "query", Name: "api_key"}
	for name, schemes := range map[string][]string{
		"no scheme":        nil,
		"undeclared":       {"Nope"},
		"a key in a query": {"Query"},
		"oauth2":           {"OAuth"},
	} {
		assert.Panics(t, func() { apikeyhuma.Middleware(api, keys, schemes...) }, name)
	}
	assert.Panics(t, func() { apikeyhuma.Middleware(nil, keys, "ApiKeyAuth") })
	assert.Panics(t, func() { apikeyhuma.Middleware(api, nil, "ApiKeyAuth") })
}
