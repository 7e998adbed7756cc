package apikeyogen

import (
	"context"
	"errors"
	"net/http"

	"github.com/ogen-go/ogen/ogenerrors"

	"github.com/go-apikey/apikey"
)

// ErrorHandler is an ogenerrors.ErrorHandler (give it to the generated
// WithErrorHandler) that answers the refusals of Authenticate as the HTTP
// middleware does: 401 with a WWW-Authenticate challenge
// (`ApiKey realm="api"`) for a missing, malformed, unknown, disabled,
// expired or too old key, 400 for conflicting keys, 403 for a missing
// scope or an allow-listed key, 402 for spent uses (with Retry-After when
// they refill), 429 with Retry-After and RateLimit-* headers over a rate
// limit, 503 when the store or the rate limiter
// failed; the body is {"code":-1,"msg":"Invalid API key"}, a fixed text
// that never holds the key nor tells an unknown key from a disabled one. A
// request with no key for any of its operation's requirements is a missing
// key. Every other error, including those of security handlers that are
// not Authenticate's, goes to ogenerrors.DefaultErrorHandler.
func ErrorHandler(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	var se *ogenerrors.SecurityError
	if !errors.As(err, &se) {
		ogenerrors.DefaultErrorHandler(ctx, w, r, err)
		return
	}
	reason := se.Err
	if errors.Is(reason, ogenerrors.ErrSecurityRequirementIsNotSatisfied) {
		reason = apikey.ErrMissingKey
	}
	if apikey.StatusCode(reason) == http.StatusInternalServerError { // not ours
		ogenerrors.DefaultErrorHandler(ctx, w, r, err)
		return
	}
	apikey.SetRefusalHeaders(w.Header(), reason, `ApiKey realm="api"`)
	apikey.DefaultErrorHandler(w, r, reason)
}
