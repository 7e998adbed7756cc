package apikeyconnect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/go-apikey/apikey"
	apikeyconnect "github.com/go-apikey/apikey/adapters/connect"
	"github.com/go-apikey/apikey/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The test service has no generated code: List and Create are unary,
// Watch streams from the server, and each answers with the principal it
// sees, "owner key-id" (twice for Watch). Health is public.
const (
	list   = "/apikeytest.Bots/List"
	create = "/apikeytest.Bots/Create"
	watch  = "/apikeytest.Bots/Watch"
	health = "/grpc.health.v1.Health/Check"
)

type bots struct{ served atomic.Int64 }

func (b *bots) whoami(ctx context.Context) (*wrapperspb.StringValue, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, connect.NewError(connect.CodeInternal, errors.New("no principal"))
	}
	b.served.Add(1)
	return wrapperspb.String(p.Owner + " " + p.KeyID), nil
}

func (b *bots) unary(ctx context.Context, _ *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
	msg, err := b.whoami(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(msg), nil
}

func (b *bots) watch(ctx context.Context, _ *connect.Request[emptypb.Empty], s *connect.ServerStream[wrapperspb.StringValue]) error {
	for range 2 {
		msg, err := b.whoami(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// handler returns the service's handlers behind opts.
func (b *bots) handler(opts ...connect.HandlerOption) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(list, connect.NewUnaryHandler(list, b.unary, opts...))
	mux.Handle(create, connect.NewUnaryHandler(create, b.unary, opts...))
	mux.Handle(watch, connect.NewServerStreamHandler(watch, b.watch, opts...))
	mux.Handle(health, connect.NewUnaryHandler(health, func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
		return connect.NewResponse(wrapperspb.String("SERVING")), nil
	}, opts...))
	return mux
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

// serve runs the service behind New(keys, opts...) on a real HTTP/2
// server on a loopback port.
func serve(t *testing.T, opts ...apikeyconnect.Option) *fixture {
	t.Helper()
	f := &fixture{store: testkit.NewSpyStore(), clock: testkit.NewFakeClock(), bots: &bots{}}
	f.keys = testkit.NewManager(t, f.store, apikey.WithClock(f.clock.Now))
	f.reader, _ = testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
	f.writer, _ = testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "bob", Scopes: []string{"bots:read", "bots:write"}})
	var dk apikey.Key
	f.disabled, dk = testkit.MustCreate(t, f.keys, apikey.NewKey{})
	_, err := f.keys.Disable(context.Background(), dk.ID)
	require.NoError(t, err)
	f.unknown, _ = testkit.MustCreate(t, testkit.NewManager(t, apikey.NewMemoryStore()), apikey.NewKey{})

	auth := apikeyconnect.New(f.keys, append([]apikeyconnect.Option{
		apikeyconnect.WithScopes(map[string][]string{create: {"bots:write"}, watch: {"bots:read"}}),
		apikeyconnect.WithPublic(health),
	}, opts...)...)
	f.srv = httptest.NewUnstartedServer(f.bots.handler(connect.WithInterceptors(auth)))
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// The protocols a Connect handler speaks; the interceptor must hold for
// each.
var protocols = map[string][]connect.ClientOption{
	"connect":  nil,
	"grpc":     {connect.WithGRPC()},
	"grpc-web": {connect.WithGRPCWeb()},
}

// call makes a unary call with the headers (name, value...) and returns
// the reply's text.
func (f *fixture) call(procedure string, proto []connect.ClientOption, headers ...string) (string, error) {
	c := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](f.srv.Client(), f.srv.URL+procedure, proto...)
	req := connect.NewRequest(&emptypb.Empty{})
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header().Add(headers[i], headers[i+1])
	}
	res, err := c.CallUnary(context.Background(), req)
	if err != nil {
		return "", err
	}
	return res.Msg.GetValue(), nil
}

// stream opens Watch with the headers and returns the replies it got,
// joined by "|".
func (f *fixture) stream(proto []connect.ClientOption, headers ...string) (string, error) {
	c := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](f.srv.Client(), f.srv.URL+watch, proto...)
	req := connect.NewRequest(&emptypb.Empty{})
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header().Add(headers[i], headers[i+1])
	}
	s, err := c.CallServerStream(context.Background(), req)
	if err != nil {
		return "", err
	}
	defer s.Close()
	var got []string
	for s.Receive() {
		got = append(got, s.Msg().GetValue())
	}
	return strings.Join(got, "|"), s.Err()
}

// refused asserts that err is a *connect.Error with code and message.
func refused(t *testing.T, err error, code connect.Code, msg string) {
	t.Helper()
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, code, ce.Code(), ce.Message())
	assert.Equal(t, msg, ce.Message())
}

func TestKeyInHeaders(t *testing.T) {
	f := serve(t)
	for name, headers := range map[string][]string{
		"X-API-Key":              {"X-API-Key", f.reader},
		"x-api-key, lower-case":  {"x-api-key", f.reader},
		"Bearer":                 {"Authorization", "Bearer " + f.reader},
		"bearer, lower-case":     {"Authorization", "bearer " + f.reader},
		"TOKEN, upper-case":      {"Authorization", "TOKEN " + f.reader},
		"Bearer, a tab":          {"Authorization", "Bearer\t" + f.reader},
		"the same key twice":     {"X-API-Key", f.reader, "Authorization", "Token " + f.reader},
		"another scheme besides": {"X-API-Key", f.reader, "Authorization", "Basic YWxpY2U6cHc="},
	} {
		for proto, opts := range protocols {
			t.Run(name+" over "+proto, func(t *testing.T) {
				got, err := f.call(list, opts, headers...)
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(got, "alice "), got)
				got, err = f.stream(opts, headers...)
				require.NoError(t, err)
				assert.Equal(t, 2, strings.Count(got, "alice "), got)
			})
		}
	}
}

func TestRefusals(t *testing.T) {
	f := serve(t)
	const (
		missing  = "Missing API key"
		invalid  = "Invalid API key"
		conflict = "Conflicting API keys"
	)
	tests := []struct {
		name    string
		headers []string
		msg     string
	}{
		{"no key", nil, missing},
		{"blank X-API-Key", []string{"X-API-Key", " "}, missing},
		{"another scheme only", []string{"Authorization", "Basic YWxpY2U6cHc="}, missing},
		{"garbage", []string{"X-API-Key", "garbage"}, invalid},
		{"bad checksum", []string{"X-API-Key", testkit.ChangeLast(f.reader)}, invalid},
		{"unknown key", []string{"X-API-Key", f.unknown}, invalid},
		{"disabled key", []string{"Authorization", "Bearer " + f.disabled}, invalid},
		{"Bearer without a key", []string{"Authorization", "Bearer"}, invalid},
		{"a comma inside the token", []string{"Authorization", "Bearer " + f.reader + ",x"}, invalid},
		{"oversized", []string{"X-API-Key", strings.Repeat("a", 1025)}, invalid},
		{"two keys: header and Authorization", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.writer}, conflict},
		{"two keys: Bearer and Token", []string{"Authorization", "Bearer " + f.reader, "Authorization", "Token " + f.writer}, conflict},
		{"two keys: X-API-Key twice", []string{"X-API-Key", f.reader, "X-API-Key", f.writer}, conflict},
		{"a valid key beside a disabled one", []string{"X-API-Key", f.reader, "Authorization", "Bearer " + f.disabled}, conflict},
	}
	for _, tt := range tests {
		for proto, opts := range protocols {
			t.Run(tt.name+" over "+proto, func(t *testing.T) {
				_, err := f.call(list, opts, tt.headers...)
				refused(t, err, connect.CodeUnauthenticated, tt.msg)
				_, err = f.stream(opts, tt.headers...)
				refused(t, err, connect.CodeUnauthenticated, tt.msg)
			})
		}
	}
	assert.Zero(t, f.bots.served.Load(), "a refused call reached its handler")
}

// Over the Connect protocol a refusal is a plain HTTP answer: its status,
// the challenge, and a JSON body holding the fixed message.
func TestHTTPAnswers(t *testing.T) {
	f := serve(t)
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 1, Window: time.Minute}})
	f.clock.Advance(20 * time.Second)
	post := func(key string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, f.srv.URL+list, strings.NewReader("{}"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		res, err := f.srv.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	body := func(res *http.Response) (b struct{ Code, Message string }) {
		require.NoError(t, json.NewDecoder(res.Body).Decode(&b))
		return b
	}

	res := post("")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.Equal(t, `Bearer realm="api"`, res.Header.Get("WWW-Authenticate"))
	assert.Equal(t, struct{ Code, Message string }{"unauthenticated", "Missing API key"}, body(res))

	res = post(f.unknown)
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.Equal(t, `Bearer realm="api", error="invalid_token"`, res.Header.Get("WWW-Authenticate"))
	assert.Equal(t, "Invalid API key", body(res).Message)

	res = post(limited)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	res = post(limited)
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "40", res.Header.Get("Retry-After"))
	assert.Empty(t, res.Header.Get("WWW-Authenticate"))

	// The URL query is no place for a key here.
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+list+"?x-api-key="+f.reader, strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err = f.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
}

func TestScopes(t *testing.T) {
	f := serve(t)
	none, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "carol"})
	for proto, opts := range protocols {
		t.Run(proto, func(t *testing.T) {
			_, err := f.call(create, opts, "X-API-Key", f.reader)
			refused(t, err, connect.CodePermissionDenied, "Insufficient scope")
			got, err := f.call(create, opts, "X-API-Key", f.writer)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(got, "bob "), got)
			_, err = f.stream(opts, "X-API-Key", none)
			refused(t, err, connect.CodePermissionDenied, "Insufficient scope")
			_, err = f.call(list, opts, "X-API-Key", none)
			require.NoError(t, err, "List needs no scope")
		})
	}
}

func TestPublicProcedures(t *testing.T) {
	f := serve(t)
	finds := f.store.Finds.Load()
	for proto, opts := range protocols {
		got, err := f.call(health, opts)
		require.NoError(t, err, proto)
		assert.Equal(t, "SERVING", got)
		got, err = f.call(health, opts, "X-API-Key", f.unknown)
		require.NoError(t, err, "a key is not even looked at (%s)", proto)
		assert.Equal(t, "SERVING", got)
	}
	assert.Equal(t, finds, f.store.Finds.Load())
	_, err := f.call(list, nil)
	refused(t, err, connect.CodeUnauthenticated, "Missing API key")
}

func TestRateLimited(t *testing.T) {
	f := serve(t)
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "dave", Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 2, Window: time.Minute}})
	f.clock.Advance(15 * time.Second) // 45 s left in the window
	_, err := f.call(list, nil, "X-API-Key", limited)
	require.NoError(t, err)
	_, err = f.stream(nil, "X-API-Key", limited)
	require.NoError(t, err, "a stream counts once")
	for proto, opts := range protocols {
		for _, call := range []func() error{
			func() error { _, err := f.call(list, opts, "X-API-Key", limited); return err },
			func() error { _, err := f.stream(opts, "X-API-Key", limited); return err },
		} {
			err := call()
			refused(t, err, connect.CodeResourceExhausted, "Rate limit exceeded")
			var ce *connect.Error
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Details(), 1, proto)
			v, derr := ce.Details()[0].Value()
			require.NoError(t, derr)
			info, ok := v.(*errdetails.RetryInfo)
			require.True(t, ok, "%T", v)
			assert.Equal(t, 45*time.Second, info.GetRetryDelay().AsDuration(), proto)
		}
	}
	f.clock.Advance(45 * time.Second) // the next window
	_, err = f.call(list, nil, "X-API-Key", limited)
	require.NoError(t, err)
}

func TestDefaultRateLimit(t *testing.T) {
	keys := testkit.NewManager(t, testkit.NewSpyStore(), apikey.WithDefaultRateLimit(1, time.Hour))
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{})
	f := &fixture{bots: &bots{}}
	f.srv = httptest.NewServer(f.bots.handler(connect.WithInterceptors(apikeyconnect.New(keys))))
	t.Cleanup(f.srv.Close)
	_, err := f.call(list, nil, "X-API-Key", plain)
	require.NoError(t, err)
	_, err = f.call(list, nil, "X-API-Key", plain)
	assert.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
}

func TestUsageExhausted(t *testing.T) {
	f := serve(t)
	once, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{MaxUses: 1})
	_, err := f.call(list, nil, "X-API-Key", once)
	require.NoError(t, err)
	_, err = f.call(list, nil, "X-API-Key", once)
	refused(t, err, connect.CodeResourceExhausted, "API key usage limit reached")
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Details(), 1, "uses that never refill: no RetryInfo")
	v, derr := ce.Details()[0].Value()
	require.NoError(t, derr)
	_, ok := v.(*errdetails.QuotaFailure)
	assert.True(t, ok, "a QuotaFailure tells spent uses from a rate limit: %T", v)

	// Uses that refill at 00:00 UTC: the client is told when.
	daily, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Refill: &apikey.Refill{Amount: 1, Interval: apikey.RefillDaily}})
	_, err = f.call(list, nil, "X-API-Key", daily)
	require.NoError(t, err)
	_, err = f.call(list, nil, "X-API-Key", daily)
	refused(t, err, connect.CodeResourceExhausted, "API key usage limit reached")
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Details(), 2)
	v, derr = ce.Details()[1].Value()
	require.NoError(t, derr)
	info, ok := v.(*errdetails.RetryInfo)
	require.True(t, ok, "%T", v)
	assert.Equal(t, 43200.0, info.GetRetryDelay().AsDuration().Seconds(), "12 hours: the fixture's clock reads 12:00 UTC")
}

func TestStoreDown(t *testing.T) {
	f := serve(t)
	f.store.FailWith(errors.New("connection refused"))
	for proto, opts := range protocols {
		_, err := f.call(list, opts, "X-API-Key", f.reader)
		refused(t, err, connect.CodeUnavailable, "Service unavailable")
		_, err = f.stream(opts, "X-API-Key", f.reader)
		refused(t, err, connect.CodeUnavailable, "Service unavailable")
		assert.Zero(t, f.bots.served.Load(), proto)
	}
	f.store.Heal()
	_, err := f.call(list, nil, "X-API-Key", f.reader)
	require.NoError(t, err)
}

// The peer address reaches the Manager: a key allowed from loopback only
// works, one allowed from elsewhere only is refused.
func TestPeerAddress(t *testing.T) {
	f := serve(t)
	here, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	there, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	_, err := f.call(list, nil, "X-API-Key", here)
	require.NoError(t, err)
	_, err = f.stream(nil, "X-API-Key", here)
	require.NoError(t, err)
	_, err = f.call(list, nil, "X-API-Key", there)
	refused(t, err, connect.CodePermissionDenied, "Access denied from this IP address")
}

// reasons is an interceptor that records the errors of the calls it
// wraps.
type reasons struct {
	mu   sync.Mutex
	seen []error
}

func (r *reasons) add(err error) {
	r.mu.Lock()
	r.seen = append(r.seen, err)
	r.mu.Unlock()
}

func (r *reasons) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		r.add(err)
		return res, err
	}
}

func (r *reasons) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (r *reasons) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		r.add(err)
		return err
	}
}

// An interceptor wrapping this one (for logs or metrics) sees why a call
// was refused; the client sees only the fixed message.
func TestOuterInterceptorSeesTheReason(t *testing.T) {
	keys := testkit.NewManager(t, testkit.NewSpyStore())
	plain, k := testkit.MustCreate(t, keys, apikey.NewKey{})
	_, err := keys.Disable(context.Background(), k.ID)
	require.NoError(t, err)
	r := &reasons{}
	f := &fixture{bots: &bots{}}
	f.srv = httptest.NewServer(f.bots.handler(connect.WithInterceptors(r, apikeyconnect.New(keys))))
	t.Cleanup(f.srv.Close)
	_, err = f.call(list, nil, "X-API-Key", plain)
	refused(t, err, connect.CodeUnauthenticated, "Invalid API key")
	_, err = f.stream(nil, "X-API-Key", plain)
	refused(t, err, connect.CodeUnauthenticated, "Invalid API key")
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Len(t, r.seen, 2)
	for _, err := range r.seen {
		assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
		assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
		assert.NotContains(t, err.Error(), plain)
	}
}

// On a client the interceptor does nothing: it neither asks for a key nor
// sends one.
func TestClientSideIsUntouched(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(connect.NewUnaryHandler(list, func(_ context.Context, req *connect.Request[emptypb.Empty]) (*connect.Response[wrapperspb.StringValue], error) {
		got = req.Header().Clone()
		return connect.NewResponse(wrapperspb.String("ok")), nil
	}))
	t.Cleanup(srv.Close)
	auth := apikeyconnect.New(testkit.NewManager(t, apikey.NewMemoryStore()))
	c := connect.NewClient[emptypb.Empty, wrapperspb.StringValue](srv.Client(), srv.URL+list, connect.WithInterceptors(auth))
	res, err := c.CallUnary(context.Background(), connect.NewRequest(&emptypb.Empty{}))
	require.NoError(t, err)
	assert.Equal(t, "ok", res.Msg.GetValue())
	assert.Empty(t, got.Values("X-API-Key"))
}

func TestCodeAndError(t *testing.T) {
	for err, want := range map[error]connect.Code{
		apikey.ErrMissingKey:                                 connect.CodeUnauthenticated,
		apikey.ErrMalformedKey:                               connect.CodeUnauthenticated,
		apikey.ErrConflictingKeys:                            connect.CodeUnauthenticated,
		apikey.ErrUnknownKey:                                 connect.CodeUnauthenticated,
		apikey.ErrKeyDisabled:                                connect.CodeUnauthenticated,
		apikey.ErrKeyExpired:                                 connect.CodeUnauthenticated,
		apikey.ErrKeyTooOld:                                  connect.CodeUnauthenticated,
		apikey.ErrInsufficientScope:                          connect.CodePermissionDenied,
		apikey.ErrIPNotAllowed:                               connect.CodePermissionDenied,
		apikey.ErrUsageExhausted:                             connect.CodeResourceExhausted,
		&apikey.RateLimitError{}:                             connect.CodeResourceExhausted,
		fmt.Errorf("lookup: %w", apikey.ErrStoreUnavailable): connect.CodeUnavailable,
		errors.New("something else"):                         connect.CodeInternal,
	} {
		assert.Equal(t, want, apikeyconnect.Code(err), "%v", err)
		ce := apikeyconnect.Error(err)
		assert.Equal(t, want, ce.Code(), "%v", err)
		assert.Equal(t, apikey.Message(err), ce.Message())
		assert.ErrorIs(t, ce, err)
	}
	// Retry in whole seconds, rounded up, never less than one.
	for reset, want := range map[time.Duration]string{0: "1", 300 * time.Millisecond: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		ce := apikeyconnect.Error(&apikey.RateLimitError{Status: apikey.LimitStatus{Limit: 1, Reset: reset}})
		assert.Equal(t, want, ce.Meta().Get("Retry-After"), "reset %v", reset)
	}
}

func TestNewPanicsOnMisconfiguration(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	for name, opts := range map[string][]apikeyconnect.Option{
		"no leading slash":       {apikeyconnect.WithScopes(map[string][]string{"apikeytest.Bots/Create": {"bots:write"}})},
		"no method":              {apikeyconnect.WithScopes(map[string][]string{"/apikeytest.Bots/": {"bots:write"}})},
		"service only":           {apikeyconnect.WithPublic("/apikeytest.Bots")},
		"a slash too many":       {apikeyconnect.WithPublic("/a/b/c")},
		"invalid scope":          {apikeyconnect.WithScopes(map[string][]string{create: {"bots write"}})},
		"no scope":               {apikeyconnect.WithScopes(map[string][]string{create: nil})},
		"public and with scopes": {apikeyconnect.WithScopes(map[string][]string{create: {"bots:write"}}), apikeyconnect.WithPublic(create)},
	} {
		assert.Panics(t, func() { apikeyconnect.New(keys, opts...) }, name)
	}
	assert.Panics(t, func() { apikeyconnect.New(nil) })
}
