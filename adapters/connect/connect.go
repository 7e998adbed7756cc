// Package apikeyconnect checks API keys on Connect handlers: a
// connect.Interceptor in front of an [apikey.Manager], which decides as it
// does for the HTTP middleware.
//
//	auth := apikeyconnect.New(keys,
//		apikeyconnect.WithScopes(map[string][]string{botsv1connect.BotServiceCreateProcedure: {"bots:write"}}),
//		apikeyconnect.WithPublic("/grpc.health.v1.Health/Check"),
//	)
//	mux.Handle(botsv1connect.NewBotServiceHandler(svc, connect.WithInterceptors(auth)))
//
// Handlers read the key's owner with apikey.FromContext(ctx). The same
// interceptor works for every protocol a Connect handler speaks (Connect,
// gRPC, gRPC-Web); on a client it does nothing.
//
// The key is read from the request headers, X-API-Key and Authorization
// under the Bearer or Token scheme, by the rules of the HTTP middleware for
// its headers: the scheme matches in any case, the key follows after
// spaces or tabs, and a request carrying two different keys is refused. A
// key in the URL query is not read. Keys with allowed IP ranges are
// checked against the connection's peer address.
//
// A refused call gets a *connect.Error (see [Error]) with a fixed message
// that never holds the key, and the handler never runs:
// CodeUnauthenticated (HTTP 401, with a WWW-Authenticate challenge) for a
// missing, malformed, unknown, disabled, expired or too old key and for
// conflicting keys; CodePermissionDenied (403) for a missing scope or a
// refused client address; CodeResourceExhausted (429) over a rate limit or
// for spent uses (credits, with an errdetails.QuotaFailure), with
// Retry-After and an errdetails.RetryInfo where waiting helps;
// CodeUnavailable (503) when the store or the rate limiter failed.
// Interceptors wrapping this one can tell the reason with errors.Is.
//
// The package is named apikeyconnect, not connect, so that it sits beside
// connectrpc.com/connect in a file's imports without renaming either.
package apikeyconnect

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"connectrpc.com/connect"

	"github.com/go-apikey/apikey"
)

// Interceptor is a connect.Interceptor that verifies the key of each call
// a handler receives. Make one with New.
type Interceptor struct {
	keys   *apikey.Manager
	scopes map[string][]string
	public map[string]bool
}

var _ connect.Interceptor = (*Interceptor)(nil)

// An Option configures New.
type Option func(*Interceptor)

// WithScopes names the scopes each procedure requires, by its full name
// ("/package.Service/Method", the Procedure constants of generated code):
// a call is let through only when its key has every scope listed for its
// procedure, and is otherwise refused with CodePermissionDenied. A
// procedure not listed needs a valid key and no scope. Given several
// times, the maps are merged.
func WithScopes(scopes map[string][]string) Option {
	return func(i *Interceptor) {
		for procedure, s := range scopes {
			i.scopes[procedure] = append(i.scopes[procedure], s...)
		}
	}
}

// WithPublic lets calls of the given procedures through without a key,
// such as health checks ("/grpc.health.v1.Health/Check"). Their handlers
// see no principal, even when the call carries a key. Every other
// procedure needs a key.
func WithPublic(procedures ...string) Option {
	return func(i *Interceptor) {
		for _, p := range procedures {
			i.public[p] = true
		}
	}
}

// New returns an interceptor checking keys with keys. It panics when an
// option is invalid: a procedure name that is not of the form
// "/service/method" (it would never match, leaving the procedure without
// the scopes meant for it), a scope that could never be granted (see
// apikey.CleanScopes), or a procedure both public and given scopes.
func New(keys *apikey.Manager, opts ...Option) *Interceptor {
	if keys == nil {
		panic("apikeyconnect: New given a nil Manager")
	}
	i := &Interceptor{keys: keys, scopes: map[string][]string{}, public: map[string]bool{}}
	for _, opt := range opts {
		opt(i)
	}
	for procedure, scopes := range i.scopes {
		checkProcedure(procedure)
		if _, err := apikey.CleanScopes(scopes); err != nil || len(scopes) == 0 {
			panic(fmt.Sprintf("apikeyconnect: WithScopes: procedure %s needs at least one valid scope, got %q", procedure, scopes))
		}
		if i.public[procedure] {
			panic("apikeyconnect: procedure " + procedure + " is both public and given scopes")
		}
	}
	for procedure := range i.public {
		checkProcedure(procedure)
	}
	return i
}

// checkProcedure panics unless p is a full procedure name, "/service/method".
func checkProcedure(p string) {
	service, method, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !strings.HasPrefix(p, "/") || !ok || service == "" || method == "" || strings.Contains(method, "/") {
		panic(fmt.Sprintf("apikeyconnect: %q is not a full procedure name such as /package.Service/Method", p))
	}
}

// WrapUnary verifies the key of a unary call a handler receives, and calls
// next with the principal on the context, or refuses the call.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		ctx, err := i.authenticate(ctx, req.Spec().Procedure, req.Header(), req.Peer())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient returns next: keys are checked by handlers.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler verifies the key of a stream when it opens, and
// calls next with the principal on the context, or refuses the stream.
// The stream counts once against the key's rate and usage limits, and
// stays open if the key is disabled later.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := i.authenticate(ctx, conn.Spec().Procedure, conn.RequestHeader(), conn.Peer())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// authenticate returns ctx carrying the principal of the call's key, or
// the error the client gets.
func (i *Interceptor) authenticate(ctx context.Context, procedure string, h http.Header, peer connect.Peer) (context.Context, error) {
	if i.public[procedure] {
		return ctx, nil
	}
	p, err := i.verify(ctx, procedure, h, peer)
	if err != nil {
		return nil, Error(err)
	}
	return apikey.NewContext(ctx, p), nil
}

func (i *Interceptor) verify(ctx context.Context, procedure string, h http.Header, peer connect.Peer) (apikey.Principal, error) {
	key, err := apikey.OneKey(h.Values("X-API-Key"), h.Values("Authorization"), "Bearer", "Token")
	if err != nil {
		return apikey.Principal{}, err
	}
	p, err := i.keys.VerifyFrom(ctx, key, peerAddr(peer.Addr))
	if err != nil {
		return apikey.Principal{}, err
	}
	for _, s := range i.scopes[procedure] {
		if !p.HasScope(s) {
			return apikey.Principal{}, fmt.Errorf("%w: %q required", apikey.ErrInsufficientScope, s)
		}
	}
	return p, nil
}

// peerAddr returns the IP address in a handler's Peer.Addr ("ip:port"),
// or the zero Addr when it holds none.
func peerAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}
