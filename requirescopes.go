package apikey

import (
	"fmt"
	"net/http"
	"slices"
)

// RequireScopes returns middleware that lets a request through only when the
// Principal the API key middleware verified has every one of scopes;
// otherwise it answers 403 (ErrInsufficientScope) through that middleware's
// error handler. Without a Principal on the context it answers 401 with
// DefaultErrorHandler, so a route can never be opened by forgetting the
// key middleware. It panics if a scope is invalid (see CleanScopes), since
// such a scope could never be granted.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	if _, err := CleanScopes(scopes); err != nil || len(scopes) == 0 {
		panic(fmt.Sprintf("apikey: RequireScopes needs at least one valid scope, got %q", scopes))
	}
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := infoFromContext(r.Context())
			if info == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				DefaultErrorHandler(w, r, ErrMissingKey)
				return
			}
			for _, s := range scopes {
				if !info.principal.HasScope(s) {
					err := fmt.Errorf("%w: %q required", ErrInsufficientScope, s)
					if info.manager != nil {
						info.manager.scopeRefused(r.Context(), &info.principal, err)
					}
					onError := info.onError
					if onError == nil {
						onError = DefaultErrorHandler
					}
					onError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
