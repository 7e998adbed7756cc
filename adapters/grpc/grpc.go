// Package apikeygrpc checks API keys on a gRPC server: a pair of server
// interceptors, unary and streaming, in front of an [apikey.Manager], which
// decides as it does for the HTTP middleware.
//
//	auth := apikeygrpc.New(keys,
//		apikeygrpc.WithScopes(map[string][]string{"/bots.v1.Bots/Create": {"bots:write"}}),
//		apikeygrpc.WithPublic(healthpb.Health_Check_FullMethodName, healthpb.Health_Watch_FullMethodName),
//	)
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.Unary), grpc.ChainStreamInterceptor(auth.Stream))
//
// Handlers read the key's owner with apikey.FromContext(ctx), streaming
// handlers from the stream's Context.
//
// The key is read from the request metadata: the x-api-key entry, and the
// authorization entry under the Bearer or Token scheme, by the rules of
// the HTTP middleware for its headers. The scheme matches in any case, the
// key follows after spaces or tabs, and a request carrying two different
// keys is refused. Keys with allowed IP ranges are checked against the
// connection's peer address (package grpc/peer); a peer that is not an IP
// address (a Unix socket) is unknown, and such keys refuse it.
//
// A refused call gets a status error (see [Error]) with a fixed message
// that never holds the key, and interceptors chained before these ones
// can tell its reason with errors.Is (apikey.ErrKeyDisabled...): codes.Unauthenticated for a missing, malformed,
// unknown, disabled, expired or too old key and for conflicting keys;
// codes.PermissionDenied for a missing scope or a refused client address;
// codes.ResourceExhausted over a rate limit or for spent uses (credits,
// with an errdetails.QuotaFailure), with an errdetails.RetryInfo saying
// when to retry where waiting helps; codes.Unavailable when the
// store or the rate limiter failed. The handler never runs.
//
// The package is named apikeygrpc, not grpc, so that it sits beside
// google.golang.org/grpc in a file's imports without renaming either.
package apikeygrpc

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/go-apikey/apikey"
)

// Authenticator holds the interceptors' configuration. Make one with New;
// its Unary and Stream methods are the interceptors.
type Authenticator struct {
	keys   *apikey.Manager
	scopes map[string][]string
	public map[string]bool
}

// An Option configures New.
type Option func(*Authenticator)

// WithScopes names the scopes each method requires, by full method name
// ("/package.Service/Method", as grpc.UnaryServerInfo.FullMethod gives
// it): a call is let through only when its key has every scope listed for
// its method, and is otherwise refused with codes.PermissionDenied. A
// method not listed needs a valid key and no scope. Given several times,
// the maps are merged.
func WithScopes(scopes map[string][]string) Option {
	return func(a *Authenticator) {
		for method, s := range scopes {
			a.scopes[method] = append(a.scopes[method], s...)
		}
	}
}

// WithPublic lets calls of the given methods, by full method name,
// through without a key, such as the health service's
// ("/grpc.health.v1.Health/Check" and "/grpc.health.v1.Health/Watch").
// Their handlers see no principal, even when the call carries a key.
// Every other method needs a key.
func WithPublic(methods ...string) Option {
	return func(a *Authenticator) {
		for _, m := range methods {
			a.public[m] = true
		}
	}
}

// New returns the interceptors for keys. It panics when an option is
// invalid: a method name that is not of the form "/service/method" (it
// would never match, leaving the method without the scopes meant for
// it), a scope that could never be granted (see apikey.CleanScopes), or a
// method both public and given scopes.
func New(keys *apikey.Manager, opts ...Option) *Authenticator {
	a := &Authenticator{keys: keys, scopes: map[string][]string{}, public: map[string]bool{}}
	for _, opt := range opts {
		opt(a)
	}
	if keys == nil {
		panic("apikeygrpc: New given a nil Manager")
	}
	for method, scopes := range a.scopes {
		checkMethod(method)
		if _, err := apikey.CleanScopes(scopes); err != nil || len(scopes) == 0 {
			panic(fmt.Sprintf("apikeygrpc: WithScopes: method %s needs at least one valid scope, got %q", method, scopes))
		}
		if a.public[method] {
			panic("apikeygrpc: method " + method + " is both public and given scopes")
		}
	}
	for method := range a.public {
		checkMethod(method)
	}
	return a
}

// checkMethod panics unless method is a full method name, "/service/method".
func checkMethod(method string) {
	service, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !strings.HasPrefix(method, "/") || !ok || service == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("apikeygrpc: %q is not a full method name such as /package.Service/Method", method))
	}
}

// Unary is a grpc.UnaryServerInterceptor: it verifies the call's key, then
// calls handler with the principal on the context, or refuses the call.
func (a *Authenticator) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// Stream is a grpc.StreamServerInterceptor: it verifies the stream's key
// once, when the stream opens, then calls handler with a stream whose
// Context carries the principal, or refuses the stream. The stream counts
// once against the key's rate and usage limits, and stays open if the key
// is disabled later: a handler serving long streams can check the key
// again with apikey.Manager.Get, or bound the stream's life.
func (a *Authenticator) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &stream{ServerStream: ss, ctx: ctx})
}

// stream is a ServerStream whose Context carries the principal.
type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// authenticate returns ctx carrying the principal of the call's key, or
// the error the client gets.
func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	if a.public[method] {
		return ctx, nil
	}
	p, err := a.verify(ctx, method)
	if err != nil {
		return nil, Error(err)
	}
	return apikey.NewContext(ctx, p), nil
}

func (a *Authenticator) verify(ctx context.Context, method string) (apikey.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx) // keys are lower-case
	key, err := apikey.OneKey(md["x-api-key"], md["authorization"], "Bearer", "Token")
	if err != nil {
		return apikey.Principal{}, err
	}
	p, err := a.keys.VerifyFrom(ctx, key, peerAddr(ctx))
	if err != nil {
		return apikey.Principal{}, err
	}
	for _, s := range a.scopes[method] {
		if !p.HasScope(s) {
			return apikey.Principal{}, fmt.Errorf("%w: %q required", apikey.ErrInsufficientScope, s)
		}
	}
	return p, nil
}

// peerAddr returns the IP address of the call's peer, or the zero Addr
// when the peer is not an IP address.
func peerAddr(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}
	}
	s := p.Addr.String()
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}
