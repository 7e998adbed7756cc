package apikeygrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/go-apikey/apikey"
	apikeygrpc "github.com/go-apikey/apikey/adapters/grpc"
	"github.com/go-apikey/apikey/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The test service, apikeytest.Bots, is written by hand (no generated
// code): List and Create are unary, Watch streams from the server. Each
// answers with the principal it sees, "owner key-id", and two messages
// for Watch.
const (
	list   = "/apikeytest.Bots/List"
	create = "/apikeytest.Bots/Create"
	watch  = "/apikeytest.Bots/Watch"
)

// bots counts the calls its handlers serve.
type bots struct{ served atomic.Int64 }

func (b *bots) whoami(ctx context.Context) (*wrapperspb.StringValue, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	b.served.Add(1)
	return wrapperspb.String(p.Owner + " " + p.KeyID), nil
}

func (b *bots) desc() *grpc.ServiceDesc {
	unary := func(name string) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, _ any) (any, error) { return b.whoami(ctx) }
			return icpt(ctx, &emptypb.Empty{}, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/apikeytest.Bots/" + name}, h)
		}}
	}
	return &grpc.ServiceDesc{
		ServiceName: "apikeytest.Bots",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{unary("List"), unary("Create")},
		Streams: []grpc.StreamDesc{{StreamName: "Watch", ServerStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			if err := ss.RecvMsg(new(emptypb.Empty)); err != nil {
				return err
			}
			for range 2 {
				msg, err := b.whoami(ss.Context())
				if err != nil {
					return err
				}
				if err := ss.SendMsg(msg); err != nil {
					return err
				}
			}
			return nil
		}}},
	}
}

type fixture struct {
	keys     *apikey.Manager
	store    *testkit.SpyStore
	clock    *testkit.FakeClock
	bots     *bots
	conn     *grpc.ClientConn
	reader   string // alice, scope bots:read
	writer   string // bob, scopes bots:read and bots:write
	disabled string
	unknown  string // well formed, never issued here
}

// serve runs a real gRPC server on a loopback port, with the interceptors
// of New(keys, opts...) and the health service, and dials it.
func serve(t *testing.T, opts ...apikeygrpc.Option) *fixture {
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

	auth := apikeygrpc.New(f.keys, append([]apikeygrpc.Option{
		apikeygrpc.WithScopes(map[string][]string{create: {"bots:write"}, watch: {"bots:read"}}),
		apikeygrpc.WithPublic(healthpb.Health_Check_FullMethodName, healthpb.Health_Watch_FullMethodName),
	}, opts...)...)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.Unary), grpc.ChainStreamInterceptor(auth.Stream))
	srv.RegisterService(f.bots.desc(), nil)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	f.conn = listen(t, srv)
	return f
}

// listen serves srv on a loopback port and dials it.
func listen(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// withMD returns a context sending the metadata pairs (name, value...).
func withMD(pairs ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), pairs...)
}

// call makes a unary call and returns the reply's text.
func (f *fixture) call(ctx context.Context, method string) (string, error) {
	out := new(wrapperspb.StringValue)
	err := f.conn.Invoke(ctx, method, &emptypb.Empty{}, out)
	return out.GetValue(), err
}

// stream opens Watch and returns the replies it got, joined by "|".
func (f *fixture) stream(ctx context.Context) (string, error) {
	s, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, watch)
	if err != nil {
		return "", err
	}
	if err := s.SendMsg(&emptypb.Empty{}); err != nil {
		return "", err
	}
	if err := s.CloseSend(); err != nil {
		return "", err
	}
	var got []string
	for {
		msg := new(wrapperspb.StringValue)
		if err := s.RecvMsg(msg); errors.Is(err, io.EOF) {
			return strings.Join(got, "|"), nil
		} else if err != nil {
			return strings.Join(got, "|"), err
		}
		got = append(got, msg.GetValue())
	}
}

// refused asserts that err is a status with code and message.
func refused(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	assert.Equal(t, code, st.Code(), st.Message())
	assert.Equal(t, msg, st.Message())
}

func TestKeyInMetadata(t *testing.T) {
	f := serve(t)
	for name, md := range map[string][]string{
		"x-api-key":                    {"x-api-key", f.reader},
		"X-API-Key (sent lower-case)":  {"X-API-Key", f.reader},
		"Bearer":                       {"authorization", "Bearer " + f.reader},
		"bearer, lower-case":           {"authorization", "bearer " + f.reader},
		"TOKEN, upper-case":            {"authorization", "TOKEN " + f.reader},
		"Bearer, spaces around":        {"authorization", " Bearer   " + f.reader + " "},
		"the same key twice":           {"x-api-key", f.reader, "authorization", "Token " + f.reader},
		"another scheme beside it":     {"x-api-key", f.reader, "authorization", "Basic YWxpY2U6cHc="},
		"x-api-key repeated, the same": {"x-api-key", f.reader, "x-api-key", f.reader},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := f.call(withMD(md...), list)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(got, "alice "), got)
			got, err = f.stream(withMD(md...))
			require.NoError(t, err)
			assert.Equal(t, 2, strings.Count(got, "alice "), got)
		})
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
		name string
		md   []string
		code codes.Code
		msg  string
	}{
		{"no key", nil, codes.Unauthenticated, missing},
		{"empty x-api-key", []string{"x-api-key", " "}, codes.Unauthenticated, missing},
		{"another scheme only", []string{"authorization", "Basic YWxpY2U6cHc="}, codes.Unauthenticated, missing},
		{"garbage", []string{"x-api-key", "garbage"}, codes.Unauthenticated, invalid},
		{"bad checksum", []string{"x-api-key", testkit.ChangeLast(f.reader)}, codes.Unauthenticated, invalid},
		{"unknown key", []string{"x-api-key", f.unknown}, codes.Unauthenticated, invalid},
		{"disabled key", []string{"authorization", "Bearer " + f.disabled}, codes.Unauthenticated, invalid},
		{"Bearer without a key", []string{"authorization", "Bearer"}, codes.Unauthenticated, invalid},
		{"a space inside the token", []string{"authorization", "Bearer " + f.reader + " x"}, codes.Unauthenticated, invalid},
		{"a comma inside the token", []string{"authorization", "Bearer " + f.reader + ",x"}, codes.Unauthenticated, invalid},
		{"oversized", []string{"x-api-key", strings.Repeat("a", 1025)}, codes.Unauthenticated, invalid},
		{"two keys: header and authorization", []string{"x-api-key", f.reader, "authorization", "Bearer " + f.writer}, codes.Unauthenticated, conflict},
		{"two keys: Bearer and Token", []string{"authorization", "Bearer " + f.reader, "authorization", "Token " + f.writer}, codes.Unauthenticated, conflict},
		{"two keys: x-api-key twice", []string{"x-api-key", f.reader, "x-api-key", f.writer}, codes.Unauthenticated, conflict},
		{"a valid key beside a disabled one", []string{"x-api-key", f.reader, "authorization", "Bearer " + f.disabled}, codes.Unauthenticated, conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.call(withMD(tt.md...), list)
			refused(t, err, tt.code, tt.msg)
			_, err = f.stream(withMD(tt.md...))
			refused(t, err, tt.code, tt.msg)
		})
	}
	assert.Zero(t, f.bots.served.Load(), "a refused call reached its handler")
}

func TestScopes(t *testing.T) {
	f := serve(t)
	_, err := f.call(withMD("x-api-key", f.reader), create)
	refused(t, err, codes.PermissionDenied, "Insufficient scope")
	got, err := f.call(withMD("x-api-key", f.writer), create)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(got, "bob "), got)

	// Watch needs bots:read: a key without it is refused on the stream.
	none, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "carol"})
	_, err = f.stream(withMD("x-api-key", none))
	refused(t, err, codes.PermissionDenied, "Insufficient scope")
	_, err = f.call(withMD("x-api-key", none), list)
	require.NoError(t, err, "List needs no scope")
}

func TestPublicMethods(t *testing.T) {
	f := serve(t)
	hc := healthpb.NewHealthClient(f.conn)
	res, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "the health check needs no key")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, res.Status)
	w, err := hc.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	res, err = w.Recv()
	require.NoError(t, err, "the streaming health watch needs no key")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, res.Status)
	// Even a bad key does not matter there, and nothing is verified.
	finds := f.store.Finds.Load()
	_, err = hc.Check(withMD("x-api-key", f.unknown), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, finds, f.store.Finds.Load())

	// Every other method of the same server needs a key.
	_, err = f.call(context.Background(), list)
	refused(t, err, codes.Unauthenticated, "Missing API key")
}

func TestRateLimited(t *testing.T) {
	f := serve(t)
	limited, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Owner: "dave", Scopes: []string{"bots:read"}, RateLimit: apikey.RateLimit{Limit: 2, Window: time.Minute}})
	f.clock.Advance(15 * time.Second) // 45 s left in the window
	_, err := f.call(withMD("x-api-key", limited), list)
	require.NoError(t, err)
	_, err = f.stream(withMD("x-api-key", limited))
	require.NoError(t, err, "a stream counts once")
	for _, call := range []func() error{
		func() error { _, err := f.call(withMD("x-api-key", limited), list); return err },
		func() error { _, err := f.stream(withMD("x-api-key", limited)); return err },
	} {
		err = call()
		refused(t, err, codes.ResourceExhausted, "Rate limit exceeded")
		st, _ := status.FromError(err)
		require.Len(t, st.Details(), 1)
		info, ok := st.Details()[0].(*errdetails.RetryInfo)
		require.True(t, ok, "%T", st.Details()[0])
		assert.Equal(t, 45*time.Second, info.GetRetryDelay().AsDuration())
	}
	f.clock.Advance(45 * time.Second) // the next window
	_, err = f.call(withMD("x-api-key", limited), list)
	require.NoError(t, err)
}

func TestDefaultRateLimit(t *testing.T) {
	store := testkit.NewSpyStore()
	keys := testkit.NewManager(t, store, apikey.WithDefaultRateLimit(1, time.Hour))
	plain, _ := testkit.MustCreate(t, keys, apikey.NewKey{})
	auth := apikeygrpc.New(keys)
	srv := grpc.NewServer(grpc.UnaryInterceptor(auth.Unary))
	srv.RegisterService((&bots{}).desc(), nil)
	conn := listen(t, srv)
	ctx := withMD("x-api-key", plain)
	require.NoError(t, conn.Invoke(ctx, list, &emptypb.Empty{}, new(wrapperspb.StringValue)))
	err := conn.Invoke(ctx, list, &emptypb.Empty{}, new(wrapperspb.StringValue))
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
}

func TestUsageExhausted(t *testing.T) {
	f := serve(t)
	once, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{MaxUses: 1})
	_, err := f.call(withMD("x-api-key", once), list)
	require.NoError(t, err)
	_, err = f.call(withMD("x-api-key", once), list)
	refused(t, err, codes.ResourceExhausted, "API key usage limit reached")
	st := status.Convert(err)
	require.Len(t, st.Details(), 1, "uses that never refill: no RetryInfo")
	_, ok := st.Details()[0].(*errdetails.QuotaFailure)
	assert.True(t, ok, "a QuotaFailure tells spent uses from a rate limit")

	// Uses that refill at 00:00 UTC: the client is told when.
	daily, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Refill: &apikey.Refill{Amount: 1, Interval: apikey.RefillDaily}})
	_, err = f.call(withMD("x-api-key", daily), list)
	require.NoError(t, err)
	_, err = f.call(withMD("x-api-key", daily), list)
	refused(t, err, codes.ResourceExhausted, "API key usage limit reached")
	st = status.Convert(err)
	require.Len(t, st.Details(), 2)
	info, ok := st.Details()[1].(*errdetails.RetryInfo)
	require.True(t, ok)
	assert.Equal(t, 43200.0, info.GetRetryDelay().AsDuration().Seconds(), "12 hours: the fixture's clock reads 12:00 UTC")
}

func TestStoreDown(t *testing.T) {
	f := serve(t)
	f.store.FailWith(errors.New("connection refused"))
	_, err := f.call(withMD("x-api-key", f.reader), list)
	refused(t, err, codes.Unavailable, "Service unavailable")
	_, err = f.stream(withMD("x-api-key", f.reader))
	refused(t, err, codes.Unavailable, "Service unavailable")
	assert.Zero(t, f.bots.served.Load())
	f.store.Heal()
	_, err = f.call(withMD("x-api-key", f.reader), list)
	require.NoError(t, err)
}

// The peer address reaches the Manager: a key allowed from loopback only
// works, one allowed from elsewhere only is refused.
func TestPeerAddress(t *testing.T) {
	f := serve(t)
	here, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{Scopes: []string{"bots:read"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	there, _ := testkit.MustCreate(t, f.keys, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	_, err := f.call(withMD("x-api-key", here), list)
	require.NoError(t, err)
	_, err = f.stream(withMD("x-api-key", here))
	require.NoError(t, err)
	_, err = f.call(withMD("x-api-key", there), list)
	refused(t, err, codes.PermissionDenied, "Access denied from this IP address")
}

// An interceptor chained before the key check (for logs or metrics) sees
// why a call was refused; the client sees only the fixed message.
func TestOuterInterceptorSeesTheReason(t *testing.T) {
	keys := testkit.NewManager(t, testkit.NewSpyStore())
	plain, k := testkit.MustCreate(t, keys, apikey.NewKey{})
	_, err := keys.Disable(context.Background(), k.ID)
	require.NoError(t, err)
	auth := apikeygrpc.New(keys)
	var (
		mu   sync.Mutex
		seen []error
	)
	logUnary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		res, err := h(ctx, req)
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
		return res, err
	}
	logStream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		err := h(srv, ss)
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
		return err
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(logUnary, auth.Unary), grpc.ChainStreamInterceptor(logStream, auth.Stream))
	f := &fixture{bots: &bots{}}
	srv.RegisterService(f.bots.desc(), nil)
	f.conn = listen(t, srv)

	_, err = f.call(withMD("x-api-key", plain), list)
	refused(t, err, codes.Unauthenticated, "Invalid API key")
	_, err = f.stream(withMD("x-api-key", plain))
	refused(t, err, codes.Unauthenticated, "Invalid API key")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	for _, err := range seen {
		assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
		assert.Equal(t, codes.Unauthenticated, status.Code(err))
		assert.NotContains(t, err.Error(), plain)
	}
}

func TestCodeAndError(t *testing.T) {
	for err, want := range map[error]codes.Code{
		apikey.ErrMissingKey:                                 codes.Unauthenticated,
		apikey.ErrMalformedKey:                               codes.Unauthenticated,
		apikey.ErrConflictingKeys:                            codes.Unauthenticated,
		apikey.ErrUnknownKey:                                 codes.Unauthenticated,
		apikey.ErrKeyDisabled:                                codes.Unauthenticated,
		apikey.ErrKeyExpired:                                 codes.Unauthenticated,
		apikey.ErrKeyTooOld:                                  codes.Unauthenticated,
		apikey.ErrInsufficientScope:                          codes.PermissionDenied,
		apikey.ErrIPNotAllowed:                               codes.PermissionDenied,
		apikey.ErrUsageExhausted:                             codes.ResourceExhausted,
		&apikey.RateLimitError{}:                             codes.ResourceExhausted,
		fmt.Errorf("lookup: %w", apikey.ErrStoreUnavailable): codes.Unavailable,
		errors.New("something else"):                         codes.Internal,
	} {
		assert.Equal(t, want, apikeygrpc.Code(err), "%v", err)
		assert.Equal(t, want, status.Code(apikeygrpc.Error(err)), "%v", err)
		assert.Equal(t, apikey.Message(err), status.Convert(apikeygrpc.Error(err)).Message())
	}
	// Retry in whole seconds, rounded up, never less than one.
	for reset, want := range map[time.Duration]time.Duration{
		0: time.Second, 300 * time.Millisecond: time.Second, 1500 * time.Millisecond: 2 * time.Second, time.Minute: time.Minute,
	} {
		st := status.Convert(apikeygrpc.Error(&apikey.RateLimitError{Status: apikey.LimitStatus{Limit: 1, Reset: reset}}))
		require.Len(t, st.Details(), 1)
		assert.Equal(t, want, st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration(), "reset %v", reset)
	}
}

func TestNewPanicsOnMisconfiguration(t *testing.T) {
	keys := testkit.NewManager(t, apikey.NewMemoryStore())
	for name, opts := range map[string][]apikeygrpc.Option{
		"no leading slash":       {apikeygrpc.WithScopes(map[string][]string{"apikeytest.Bots/Create": {"bots:write"}})},
		"no method":              {apikeygrpc.WithScopes(map[string][]string{"/apikeytest.Bots/": {"bots:write"}})},
		"service only":           {apikeygrpc.WithScopes(map[string][]string{"/apikeytest.Bots": {"bots:write"}})},
		"a slash too many":       {apikeygrpc.WithPublic("/a/b/c")},
		"invalid scope":          {apikeygrpc.WithScopes(map[string][]string{create: {"bots write"}})},
		"no scope":               {apikeygrpc.WithScopes(map[string][]string{create: {}})},
		"public and with scopes": {apikeygrpc.WithScopes(map[string][]string{create: {"bots:write"}}), apikeygrpc.WithPublic(create)},
	} {
		assert.Panics(t, func() { apikeygrpc.New(keys, opts...) }, name)
	}
	assert.Panics(t, func() { apikeygrpc.New(nil) })
}
