package apikeyconnect

import (
	"errors"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/go-apikey/apikey"
)

// Code returns the code a call refused with err gets, err being an error
// of the interceptor or of apikey.Manager.Verify: CodeUnauthenticated for
// a missing, malformed, unknown, disabled, expired or too old key and for
// conflicting keys; CodePermissionDenied for a missing scope or a refused
// client address; CodeResourceExhausted over a rate limit and for spent
// uses (credits); CodeUnavailable when the store or the rate limiter failed or
// timed out; CodeInternal for anything else.
func Code(err error) connect.Code {
	switch {
	case errors.Is(err, apikey.ErrMissingKey), errors.Is(err, apikey.ErrMalformedKey),
		errors.Is(err, apikey.ErrConflictingKeys), errors.Is(err, apikey.ErrUnknownKey),
		errors.Is(err, apikey.ErrKeyDisabled), errors.Is(err, apikey.ErrKeyExpired),
		errors.Is(err, apikey.ErrKeyTooOld):
		return connect.CodeUnauthenticated
	case errors.Is(err, apikey.ErrInsufficientScope), errors.Is(err, apikey.ErrIPNotAllowed):
		return connect.CodePermissionDenied
	case errors.Is(err, apikey.ErrRateLimited), errors.Is(err, apikey.ErrUsageExhausted):
		return connect.CodeResourceExhausted
	case errors.Is(err, apikey.ErrStoreUnavailable):
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// Error returns the error a client gets for err: Code(err), with
// apikey.Message(err) as its message, a fixed text that never holds the
// key ("Missing API key", "Invalid API key", "Rate limit exceeded"...).
// With CodeUnauthenticated, its metadata holds a WWW-Authenticate
// challenge (`Bearer realm="api"`, with `error="invalid_token"` unless the
// key was missing); over a rate limit, and for spent uses that refill, a
// Retry-After header and an errdetails.RetryInfo detail give
// apikey.RetryAfter(err), the time left in the key's window or until its
// next refill. Spent uses also carry an errdetails.QuotaFailure detail, so
// that a client can tell them from a rate limit. A unary call's error metadata is sent
// as HTTP response headers, whatever the protocol.
//
// The error unwraps to err, so server code that sees it (an interceptor
// wrapping this one, for logs or metrics) can tell the reason with
// errors.Is.
func Error(err error) *connect.Error {
	ce := connect.NewError(Code(err), &refusal{msg: apikey.Message(err), err: err})
	switch ce.Code() {
	case connect.CodeUnauthenticated:
		challenge := `Bearer realm="api"`
		if !errors.Is(err, apikey.ErrMissingKey) {
			challenge += `, error="invalid_token"`
		}
		ce.Meta().Set("WWW-Authenticate", challenge)
	case connect.CodeResourceExhausted:
		if errors.Is(err, apikey.ErrUsageExhausted) {
			if d, derr := connect.NewErrorDetail(usesSpent); derr == nil {
				ce.AddDetail(d)
			}
		}
		if delay, ok := apikey.RetryAfter(err); ok {
			ce.Meta().Set("Retry-After", strconv.FormatInt(int64(delay/time.Second), 10))
			if d, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); derr == nil {
				ce.AddDetail(d)
			}
		}
	}
	return ce
}

// usesSpent is the detail of a call refused for spent uses.
var usesSpent = &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
	Subject: "api_key", Description: "the key's uses (credits) are spent",
}}}

// refusal is the message a client gets, unwrapping to the reason for it.
type refusal struct {
	msg string
	err error
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.err }
