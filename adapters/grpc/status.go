package apikeygrpc

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/go-apikey/apikey"
)

// Code returns the status code a call refused with err gets, err being an
// error of the interceptors or of apikey.Manager.Verify:
// codes.Unauthenticated for a missing, malformed, unknown, disabled,
// expired or too old key and for conflicting keys; codes.PermissionDenied
// for a missing scope or a refused client address; codes.ResourceExhausted
// over a rate limit and for spent uses (credits), the quota gRPC names that
// code for; codes.Unavailable when the store or the rate limiter failed or
// timed out; codes.Internal for anything else.
func Code(err error) codes.Code {
	switch {
	case errors.Is(err, apikey.ErrMissingKey), errors.Is(err, apikey.ErrMalformedKey),
		errors.Is(err, apikey.ErrConflictingKeys), errors.Is(err, apikey.ErrUnknownKey),
		errors.Is(err, apikey.ErrKeyDisabled), errors.Is(err, apikey.ErrKeyExpired),
		errors.Is(err, apikey.ErrKeyTooOld):
		return codes.Unauthenticated
	case errors.Is(err, apikey.ErrInsufficientScope), errors.Is(err, apikey.ErrIPNotAllowed):
		return codes.PermissionDenied
	case errors.Is(err, apikey.ErrRateLimited), errors.Is(err, apikey.ErrUsageExhausted):
		return codes.ResourceExhausted
	case errors.Is(err, apikey.ErrStoreUnavailable):
		return codes.Unavailable
	}
	return codes.Internal
}

// Error returns the status error a client gets for err: Code(err), with
// apikey.Message(err) as its message, a fixed text that never holds the
// key ("Missing API key", "Invalid API key", "Rate limit exceeded"...).
// Over a rate limit, and for spent uses that refill, it carries an
// errdetails.RetryInfo whose delay is apikey.RetryAfter(err): the time left
// in the key's window, or until its next refill. Spent uses also carry an
// errdetails.QuotaFailure, so that a client can tell them from a rate limit.
//
// The error unwraps to err, so server code that sees it (an interceptor
// chained before these ones, for logs or metrics) can tell the reason with
// errors.Is; the client gets only the status (status.FromError).
func Error(err error) error {
	st := status.New(Code(err), apikey.Message(err))
	if errors.Is(err, apikey.ErrUsageExhausted) {
		if d, derr := st.WithDetails(usesSpent); derr == nil {
			st = d
		}
	}
	if delay, ok := apikey.RetryAfter(err); ok {
		if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); derr == nil {
			st = d
		}
	}
	return &refusal{st: st, err: err}
}

// usesSpent is the detail of a call refused for spent uses.
var usesSpent = &errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
	Subject: "api_key", Description: "the key's uses (credits) are spent",
}}}

// refusal is a status error that unwraps to the reason for it.
type refusal struct {
	st  *status.Status
	err error
}

func (r *refusal) Error() string              { return r.st.Err().Error() }
func (r *refusal) GRPCStatus() *status.Status { return r.st }
func (r *refusal) Unwrap() error              { return r.err }
