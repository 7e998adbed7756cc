package apikeyoapi

import (
	"errors"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/go-apikey/apikey"
)

// WriteError answers a request the validator refused with err, when err
// holds a refusal of Authenticate's AuthenticationFunc, as the HTTP
// middleware does, and reports whether it did; give it the validator's
// error (an *openapi3filter.SecurityRequirementsError, or an
// openapi3.MultiError holding one), and answer other errors your own way.
//
// The answer is 401 with a WWW-Authenticate challenge
// (`ApiKey realm="api"`) for a missing, malformed, unknown, disabled,
// expired or too old key, 400 for conflicting keys, 403 for a missing
// scope or a refused client address, 402 for spent uses (with Retry-After
// when they refill), 429 with Retry-After and RateLimit-* headers over a
// rate limit, 503 when the store or the rate limiter failed; the body is
// {"code":-1,"msg":"Invalid API key"}, a fixed text that never holds the
// key nor tells an unknown key from a disabled one.
//
// When several requirements failed, the answer is for the refusal that
// got furthest: a store failure before spent uses, before a rate limit,
// before a 403, before
// conflicting keys, before an invalid key, before a missing one. A
// request whose key lacks the scopes of one requirement and is missing
// from another's scheme is told 403, and a failed store is never reported
// as a bad key.
func WriteError(w http.ResponseWriter, r *http.Request, err error) bool {
	var best error
	for e := range refusals(err) {
		if best == nil || rank(e) > rank(best) {
			best = e
		}
	}
	if best == nil {
		return false
	}
	apikey.SetRefusalHeaders(w.Header(), best, `ApiKey realm="api"`)
	apikey.DefaultErrorHandler(w, r, best)
	return true
}

// refusals yields the apikey refusals in err's tree: the outermost error
// of each branch that apikey.StatusCode knows.
func refusals(err error) func(yield func(error) bool) {
	return func(yield func(error) bool) {
		var walk func(error) bool
		walk = func(err error) bool {
			for err != nil {
				var list []error
				switch multi := err.(type) {
				case openapi3.MultiError: // matches with Is, does not unwrap
					list = multi
				case interface{ Unwrap() []error }:
					list = multi.Unwrap()
				}
				if list != nil {
					for _, e := range list {
						if !walk(e) {
							return false
						}
					}
					return true
				}
				if apikey.StatusCode(err) != http.StatusInternalServerError {
					return yield(err)
				}
				err = errors.Unwrap(err)
			}
			return true
		}
		walk(err)
	}
}

// rank orders refusals by how far the request got.
func rank(err error) int {
	switch apikey.StatusCode(err) {
	case http.StatusServiceUnavailable:
		return 6
	case http.StatusPaymentRequired:
		return 5
	case http.StatusTooManyRequests:
		return 4
	case http.StatusForbidden:
		return 3
	case http.StatusBadRequest:
		return 2
	case http.StatusUnauthorized:
		if !errors.Is(err, apikey.ErrMissingKey) {
			return 1
		}
	}
	return 0
}
