package apikeyogen_test

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

	"github.com/ogen-go/ogen/ogenerrors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	apikeyogen "github.com/go-apikey/apikey/adapters/ogen"
	"github.com/go-apikey/apikey/adapters/ogen/internal/botapi"
	"github.com/go-apikey/apikey/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// security is the generated SecurityHandler's glue, as a user writes it.
type security struct{ *apikeyogen.Security }

func (s security) HandleApiKeyAuth(ctx context.Context, _ botapi.OperationName, t botapi.ApiKeyAuth) (context.Context, error) {
	return s.Authenticate(ctx, t.APIKey, t.Roles)
}

func (s security) HandleBearerAuth(ctx context.Context, _ botapi.OperationName, t botapi.BearerAuth) (context.Context, error) {
	return s.Authenticate(ctx, t.Token, t.Roles)
}

// bots answers every operation with the principal it sees, and counts
// the calls it serves.
type bots struct{ served atomic.Int64 }

func (b *bots) caller(ctx context.Context) (*botapi.Caller, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, errors.New("no principal")
	}
	b.served.Add(1)
	return &botapi.Caller{Owner: p.Owner, KeyID: p.KeyID}, nil
}

func (b *bots) ListBots(ctx context.Context) (*botapi.Caller, error)  { return b.caller(ctx) }
func (b *bots) CreateBot(ctx context.Context) (*botapi.Caller, error) { return b.caller(ctx) }
func (b *bots) Health(ctx context.Context) (*botapi.Caller, error) {
	if _, ok := apikey.FromContext(ctx); ok {
		return nil, errors.New("a public operation got a principal")
	}
	return &botapi.Caller{Owner: "nobody"}, nil
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

// serve runs the generated server, with apikeyogen's security and error
// handlers, on a loopback port.
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

	h, err := botapi.NewServer(f.bots, security{apikeyogen.New(f.keys)}, botapi.WithErrorHandler(apikeyogen.ErrorHandler))
	require.NoError(t, err)
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// source is the generated client's SecuritySource: a key for either
// scheme, or none.
type source struct{ apiKey, bearer string }

func (s source) ApiKeyAuth(context.Context, botapi.OperationName) (botapi.ApiKeyAuth, error) {
	if s.apiKey == "" {
		return botapi.ApiKeyAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return botapi.ApiKeyAuth{APIKey: s.apiKey}, nil
}

func (s source) BearerAuth(context.Context, botapi.OperationName) (botapi.BearerAuth, error) {
	if s.bearer == "" {
		return botapi.BearerAuth{}, ogenerrors.ErrSkipClientSecurity
	}
	return botapi.BearerAuth{Token: s.bearer}, nil
}

func (f *fixture) client(t *testing.T, s source) *botapi.Client {
	t.Helper()
	c, err := botapi.NewClient(f.srv.URL, s, botapi.WithClient(f.srv.Client()))
	require.NoError(t, err)
	return c
}

// answer is a raw response: its status, headers and decoded body.
type answer struct {
	status int
	header http.Header
	body   apikey.ErrorBody
}

// do sends method path with the headers (name, value...) and reads the
// answer, without the generated client, which refuses to send requests
// lacking a key.
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
	if res.StatusCode != http.StatusOK && strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.NewDecoder(res.Body).Decode(&a.body))
	}
	return a
}

func TestGeneratedClient(t *testing.T) {
	f := serve(t)
	for name, s := range map[string]source{
		"X-API-Key":            {apiKey: f.reader},
		"Bearer":               {bearer: f.reader},
		"both, the same key":   {apiKey: f.reader, bearer: f.reader},
		"spaces around a key":  {apiKey: " " + f.reader + " "},
		"Bearer, extra spaces": {bearer: "  " + f.reader},
	} {
		got, err := f.client(t, s).ListBots(context.Background())
		require.NoError(t, err, name)
		assert.Equal(t, "alice", got.Owner, name)
	}
	got, err := f.client(t, source{}).Health(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "nobody", got.Owner)
}

// The same key under both schemes is verified once: a key allowed one
// request per window gets its request.
func TestSameKeyTwiceCountsOnce(t *testing.T) {
	f := serve(t)
	once, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 1, Window: time.Minute}})
	finds := f.store.Finds.Load()
	_, err := f.client(t, source{apiKey: once, bearer: once}).ListBots(context.Background())
	require.NoError(t, err)
	assert.Equal(t, finds+1, f.store.Finds.Load(), "one lookup")
}

func TestRefusals(t *testing.T) {
	f := serve(t)
	const (
		missing  = `ApiKey realm="api"`
		invalid  = `ApiKey realm="api", error="invalid_token"`
		conflict = ""
	)
	tests := []struct {
		name      string
		headers   []string
		status    int
		msg       string
		challenge string
	}{
		{"no key", nil, 401, "Missing API key", missing},
		{"empty X-API-Key", []string{"X-API-Key", ""}, 401, "Missing API key", missing},
		{"another scheme only", []string{"Authorization", "Basic YWxpY2U6cHc="}, 401, "Missing API key", missing},
		{"garbage", []string{"X-API-Key", "garbage"}, 401, "Invalid API key", invalid},
		{"bad checksum", []string{"X-API-Key", testkit.ChangeLast(f.reader)}, 401, "Invalid API key", invalid},
		{"unknown key", []string{"X-API-Key", f.unknown}, 401, "Invalid API key", invalid},
		{"disabled key", []string{"Authorization", "Bearer " + f.disabled}, 401, "Invalid API key", invalid},
		{"a space inside the token", []string{"Authorization", "Bearer " + f.reader + " x"}, 401, "Invalid API key", invalid},
		{"two keys: header and Bearer", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.writer}, 400, "Conflicting API keys", conflict},
		{"a valid key and a disabled one", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.disabled}, 400, "Conflicting API keys", conflict},
		{"a valid key and garbage", []string{"X-API-Key", f.reader, "Authorization", "Bearer garbage"}, 400, "Conflicting API keys", conflict},
	}
	for _, tt := range tests {
		a := f.do(t, http.MethodGet, "/bots", tt.headers...)
		assert.Equal(t, tt.status, a.status, tt.name)
		assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: tt.msg}, a.body, tt.name)
		assert.Equal(t, tt.challenge, a.header.Get("WWW-Authenticate"), tt.name)
		assert.Equal(t, "application/json; charset=utf-8", a.header.Get("Content-Type"), tt.name)
	}
	assert.Zero(t, f.bots.served.Load(), "a refused request reached its handler")

	// The generated client sees the refusal too.
	_, err := f.client(t, source{apiKey: f.disabled}).ListBots(context.Background())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), f.disabled)
}

// Scopes come from the spec: createBot's security requirement lists
// bots:write as a role.
func TestScopesFromTheSpec(t *testing.T) {
	f := serve(t)
	a := f.do(t, http.MethodPost, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Insufficient scope", a.body.Msg)
	assert.Empty(t, a.header.Get("WWW-Authenticate"), "a 403 carries no challenge")
	got, err := f.client(t, source{bearer: f.writer}).CreateBot(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "bob", got.Owner)
	// The same key under both schemes is checked against each one's roles.
	a = f.do(t, http.MethodPost, "/bots", "X-API-Key", f.reader, "Authorization", "Bearer "+f.reader)
	assert.Equal(t, http.StatusForbidden, a.status)
}

func TestPublicOperation(t *testing.T) {
	f := serve(t)
	finds := f.store.Finds.Load()
	for _, headers := range [][]string{nil, {"X-API-Key", f.unknown}} {
		a := f.do(t, http.MethodGet, "/healthz", headers...)
		assert.Equal(t, http.StatusOK, a.status)
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
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusServiceUnavailable, a.status)
	assert.Equal(t, "Service unavailable", a.body.Msg)
	assert.Empty(t, a.header.Get("WWW-Authenticate"))
	assert.Zero(t, f.bots.served.Load())
	f.store.Heal()
	assert.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/bots", "X-API-Key", f.reader).status)
}

// ogen gives the security handler no client address: a key limited to
// some addresses is refused, even from one of them.
func TestAllowListedKeysAreRefused(t *testing.T) {
	f := serve(t)
	here, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	a := f.do(t, http.MethodGet, "/bots", "X-API-Key", here)
	assert.Equal(t, http.StatusForbidden, a.status)
	assert.Equal(t, "Access denied from this IP address", a.body.Msg)
}

// Errors that are not a key's refusal keep ogen's own answer.
func TestOtherErrorsGoToOgen(t *testing.T) {
	f := serve(t)
	a := f.do(t, http.MethodDelete, "/bots", "X-API-Key", f.reader)
	assert.Equal(t, http.StatusMethodNotAllowed, a.status)

	// A handler's error.
	rec := httptest.NewRecorder()
	apikeyogen.ErrorHandler(context.Background(), rec, httptest.NewRequest(http.MethodGet, "/", nil), errors.New("boom"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `"error_message":"boom"`)
	// Another scheme's security handler failing its own way.
	rec = httptest.NewRecorder()
	apikeyogen.ErrorHandler(context.Background(), rec, httptest.NewRequest(http.MethodGet, "/", nil),
		&ogenerrors.SecurityError{Security: "OAuth", Err: errors.New("token expired")})
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Body.String(), "token expired")
}

// A key handed over again by a second scheme is checked against that
// scheme's roles too.
func TestSecondSchemeChecksItsRoles(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{Scopes: []string{"bots:read"}})
	sec := apikeyogen.New(keys)
	ctx, err := sec.Authenticate(context.Background(), plain, []string{"bots:read"})
	require.NoError(t, err)
	_, err = sec.Authenticate(ctx, plain, []string{"bots:read"})
	require.NoError(t, err)
	_, err = sec.Authenticate(ctx, plain, []string{"bots:write"})
	assert.ErrorIs(t, err, apikey.ErrInsufficientScope)
}

// A principal accepted by another Security (another Manager) is not
// mistaken for this one's.
func TestTwoSecuritiesDoNotShare(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{})
	a, b := apikeyogen.New(keys), apikeyogen.New(keys)
	ctx, err := a.Authenticate(context.Background(), plain, nil)
	require.NoError(t, err)
	_, err = b.Authenticate(ctx, "garbage", nil)
	assert.ErrorIs(t, err, apikey.ErrMalformedKey, "verified, not compared")
	_, err = a.Authenticate(ctx, "garbage", nil)
	assert.ErrorIs(t, err, apikey.ErrConflictingKeys)
	assert.Panics(t, func() { apikeyogen.New(nil) })
	assert.False(t, strings.Contains(err.Error(), plain))
}
