package apikey

import "context"

func principalOf(k *Key) Principal {
	return Principal{KeyID: k.ID, Owner: k.Owner, Name: k.Name, scopes: k.Scopes, metadata: k.Metadata, kind: KindKey}
}

// authInfo is what the middleware puts on the request context: the
// principal and the error handler that RequireScopes should answer with.
type authInfo struct {
	principal Principal
	onError   ErrorHandler
	// manager and match let a nested middleware of the same Manager see
	// that this request's key was already verified, and not count it again
	// against its rate limit or uses. The context never holds the key
	// itself: a handler that prints it, or a stripped request, must not
	// reveal it.
	manager *Manager
	match   keyMatch
	// source is where the middleware read the key.
	source Source
}

type contextKey struct{}

// authContext is a context carrying an authInfo. It does what
// context.WithValue would, in one allocation instead of two (the value and
// the context node): this is on the path of every request.
type authContext struct {
	context.Context
	info authInfo
	// digest is where the middleware has the key's digest computed, sparing
	// it an allocation of its own.
	digest [32]byte
}

// Value returns the authInfo for contextKey and asks the parent for
// anything else, as a context.WithValue node does.
func (c *authContext) Value(key any) any {
	if key == (contextKey{}) {
		return &c.info
	}
	return c.Context.Value(key)
}

func (c *authContext) String() string { return "apikey.authContext" }

// withAuth returns ctx carrying info.
func withAuth(ctx context.Context, info authInfo) context.Context {
	return &authContext{Context: ctx, info: info}
}

// FromContext returns the principal that the middleware verified for this
// request, and false when there is none (no middleware, or a skipped route).
func FromContext(ctx context.Context) (Principal, bool) {
	info, ok := ctx.Value(contextKey{}).(*authInfo)
	if !ok {
		return Principal{}, false
	}
	return info.principal, true
}

// SourceFromContext returns the source the middleware read the request's
// key from, and false when the context has no principal verified by the
// middleware (none at all, or one put there by [NewContext]). When the same
// key came in several places, a query source wins over the others: a
// handler that refuses keys sent in URLs, which leak into logs, sees it.
func SourceFromContext(ctx context.Context) (Source, bool) {
	info := infoFromContext(ctx)
	if info == nil || info.source.kind == 0 {
		return Source{}, false
	}
	return info.source, true
}

// NewContext returns a copy of ctx carrying p, as the middleware does. It is
// meant for tests of handlers that call [FromContext].
func NewContext(ctx context.Context, p Principal) context.Context {
	return withAuth(ctx, authInfo{principal: p})
}

func infoFromContext(ctx context.Context) *authInfo {
	info, _ := ctx.Value(contextKey{}).(*authInfo)
	return info
}
