package apikey

import (
	"fmt"
	"net/http"
	"strings"
)

// HostAuthFunc authenticates a request by the service's own means, such
// as its login session or a JWT, for routes that accept either that or an
// API key (see WithHostAuth). It returns:
//
//   - the principal and true when the request carries a credential it
//     accepts; give the principal scopes with Principal.WithScopes if
//     RequireScopes guards the route;
//   - false and nil when the request carries none it knows: the request
//     is then refused with ErrMissingKey (401), or let through without a
//     principal under WithOptional;
//   - an error when it carries one that is not valid (an expired session,
//     a bad signature): 401, with ErrInvalidCredential; or when the host
//     could not tell (its session store is down): wrap ErrStoreUnavailable
//     for a 503.
//
// It runs on the request's goroutine, for requests that carry no API key.
type HostAuthFunc func(r *http.Request) (p Principal, ok bool, err error)

// WithHostAuth lets requests in through the service's own authentication
// as well as with an API key, on the same routes, so that a service whose
// web users have a session or a JWT can also serve programs with keys:
//
//   - A request with a key (in any source, or an Authorization token with
//     a key's shape: one of the Manager's prefixes and an underscore, a
//     key's checksum, or a static key) is judged as a key, and auth is
//     not called: a bad, disabled or revoked key is refused and never
//     falls through to the host's login, and a session cookie beside a
//     valid key changes nothing.
//   - A request whose Authorization token has no key's shape (a JWT) and
//     no key anywhere else goes to auth, and so does a request with no
//     credential of ours at all (a session cookie). Such a token costs no
//     digest and no store lookup.
//   - A request with both a key and a token that is not one (two
//     credentials of different kinds, sent on purpose) is refused with
//     ErrConflictingKeys (400): no credential silently wins.
//
// The principal auth returns goes on the context like a key's; its Kind
// is KindHost, so a handler can tell the two apart, and RequireScopes
// checks the scopes auth gave it. If auth panics the request is refused
// with 503 (ErrStoreUnavailable) and the Manager logs it: a broken
// authenticator never opens the door. The observer (WithObserver) sees the
// refusals, as for keys.
func WithHostAuth(auth HostAuthFunc) MiddlewareOption {
	return func(c *middlewareConfig) { c.hostAuth = auth }
}

// isKeyCredential reports whether an Authorization token is an API key for
// this Manager rather than a credential of the host's own (see
// WithHostAuth): it starts with one of the Manager's prefixes and an
// underscore, has a key's checksum under any prefix, is a static key, or
// has the shape of imported keys (WithImportedKeys).
func (m *Manager) isKeyCredential(token string) bool {
	if hasPrefixSep(token, m.prefix) || LooksLikeKey(token) || m.staticKey(token) != nil || m.importedShape(token) {
		return true
	}
	for _, p := range m.accepted {
		if hasPrefixSep(token, p) {
			return true
		}
	}
	return false
}

func hasPrefixSep(s, prefix string) bool {
	return len(s) > len(prefix) && s[len(prefix)] == '_' && strings.HasPrefix(s, prefix)
}

// hostAuthenticate runs auth for r. A panic becomes ErrStoreUnavailable,
// logged without its value, which may hold the credential.
func (m *Manager) hostAuthenticate(auth HostAuthFunc, r *http.Request) (p Principal, ok bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			p, ok = Principal{}, false
			err = unavailable("host authenticator", fmt.Errorf("panicked (%T)", v))
			m.logFailure(r.Context(), err)
		}
	}()
	p, ok, err = auth(r)
	switch {
	case err != nil && StatusCode(err) == http.StatusServiceUnavailable:
		err = unavailable("host authenticator", err)
		m.logFailure(r.Context(), err)
		return Principal{}, false, err
	case err != nil:
		return Principal{}, false, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	case !ok:
		return Principal{}, false, nil
	}
	p.kind = KindHost
	return p, true, nil
}
