package apikey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// An ErrorHandler writes the response for a refused request. err wraps one
// of the package's sentinel errors (ErrMissingKey, ErrKeyDisabled,
// ErrStoreUnavailable...). When StatusCode(err) is 401, the middleware has
// already set the WWW-Authenticate header; a handler that answers with
// another status should delete it.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// StatusCode maps an error from the middleware or Verify to the HTTP status
// the default error handler answers with: 401 for a missing, malformed,
// unknown, disabled, expired or too old key; 400 for conflicting keys; 403
// for a missing scope or a refused client address; 402 Payment Required
// for spent uses (credits), so that a client can tell "out of credit"
// from "slow down" (429 over a rate limit), which waiting fixes; 503 when
// the store or limiter failed or timed out; 500 otherwise.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrMissingKey), errors.Is(err, ErrMalformedKey), errors.Is(err, ErrInvalidCredential),
		errors.Is(err, ErrUnknownKey), errors.Is(err, ErrKeyDisabled),
		errors.Is(err, ErrKeyExpired), errors.Is(err, ErrKeyTooOld):
		return http.StatusUnauthorized
	case errors.Is(err, ErrConflictingKeys):
		return http.StatusBadRequest
	case errors.Is(err, ErrInsufficientScope), errors.Is(err, ErrIPNotAllowed):
		return http.StatusForbidden
	case errors.Is(err, ErrUsageExhausted):
		return http.StatusPaymentRequired
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrStoreUnavailable), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Message returns the short text the default error handler shows a client
// for err. Disabled, expired, too old, unknown and malformed keys all read
// "Invalid API key", so a client learns no more than that its key does not
// work; a valid key refused for its policy is told why.
func Message(err error) string {
	switch StatusCode(err) {
	case http.StatusUnauthorized:
		var misplaced *MisplacedKeyError
		switch {
		case errors.As(err, &misplaced):
			return misplaced.clientMessage()
		case errors.Is(err, ErrMissingKey):
			return "Missing API key"
		case errors.Is(err, ErrInvalidCredential):
			return "Invalid credentials"
		}
		return "Invalid API key"
	case http.StatusBadRequest:
		return "Conflicting API keys"
	case http.StatusForbidden:
		if errors.Is(err, ErrIPNotAllowed) {
			return "Access denied from this IP address"
		}
		return "Insufficient scope"
	case http.StatusPaymentRequired:
		return "API key usage limit reached"
	case http.StatusTooManyRequests:
		return "Rate limit exceeded"
	case http.StatusServiceUnavailable:
		return "Service unavailable"
	}
	return "Internal server error"
}

// ErrorBody is the JSON body of the default error response:
// {"code":-1,"msg":"Invalid API key"}.
type ErrorBody struct {
	// Code is always -1 for an error.
	Code int `json:"code"`
	// Msg is Message(err): short, fixed text safe to show anyone.
	Msg string `json:"msg"`
}

// DefaultErrorHandler answers with StatusCode(err) and an ErrorBody whose
// Code is -1 and Msg is Message(err). It never includes the key.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	// Refusals are what a flood of bad keys costs: canonical header names
	// set directly over one backing array, and a body made once per message.
	v := []string{"application/json; charset=utf-8", "no-store", "nosniff"}
	h := w.Header()
	h["Content-Type"] = v[0:1:1]
	h["Cache-Control"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	w.WriteHeader(StatusCode(err))
	_, _ = w.Write(errorBody(Message(err)))
}

// errorBodies holds the JSON body of each message Message returns.
var errorBodies sync.Map // string -> []byte

func errorBody(msg string) []byte {
	if b, ok := errorBodies.Load(msg); ok {
		return b.([]byte)
	}
	// Not escaped for HTML: the body is JSON (nosniff), and "<key>" in a
	// message should read as it does in the README, not as \u003ckey\u003e.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ErrorBody{Code: -1, Msg: msg}) // ends with '\n'
	b := buf.Bytes()
	errorBodies.Store(msg, b)
	return b
}

// RetryAfter returns how long a client refused with err should wait before
// it tries again, in whole seconds and at least one, and whether waiting
// helps at all: over a rate limit, until the window frees a request
// (RateLimitError); with spent uses that refill, until the next refill
// (UsageExhaustedError). Every other refusal, spent uses that never refill
// included, returns false. Adapters for other protocols use it for their
// own form of Retry-After, such as gRPC's RetryInfo.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return time.Duration(ceilSeconds(rl.Status.Reset)) * time.Second, true
	}
	var ue *UsageExhaustedError
	if errors.As(err, &ue) && ue.Reset > 0 {
		return time.Duration(ceilSeconds(ue.Reset)) * time.Second, true
	}
	return 0, false
}

// SetRetryHeaders sets on h the headers the middleware sends a client
// refused with err to say when it may try again: over a rate limit,
// Retry-After and RateLimit-Limit, -Remaining and -Reset; with spent uses
// that refill, Retry-After. It sets nothing for other refusals. Handlers
// that answer refusals themselves (adapters for other frameworks, a
// gateway check) call it before writing the status.
func SetRetryHeaders(h http.Header, err error) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		setRateLimitHeaders(h, rl.Status)
		h["Retry-After"] = h["Ratelimit-Reset"]
		return
	}
	if d, ok := RetryAfter(err); ok {
		h["Retry-After"] = []string{strconv.FormatInt(int64(d/time.Second), 10)}
	}
}

// SetRateLimitHeaders sets on h the RateLimit-Limit, -Remaining and
// -Reset headers the middleware sends with an allowed request of a
// rate-limited key, from the status VerifyWithStatus returns. It sets
// nothing when st.Limit is 0 (no limit).
func SetRateLimitHeaders(h http.Header, st LimitStatus) {
	if st.Limit > 0 {
		setRateLimitHeaders(h, st)
	}
}

// SetRefusalHeaders sets on h the headers the middleware sends with the
// refusal err, before its error handler writes the status and body: for
// 401, WWW-Authenticate with challenge (such as `Bearer realm="api"`),
// adding error="invalid_token" unless the key was missing; for 429 and
// 402, what SetRetryHeaders sets. Adapters for other frameworks call it
// to refuse as the middleware does.
func SetRefusalHeaders(h http.Header, err error, challenge string) {
	setRefusalHeaders(h, err, challenge, "")
}

// setRefusalHeaders is SetRefusalHeaders with the challenge for an invalid
// key made already, as the middleware makes it once; "" makes it here.
func setRefusalHeaders(h http.Header, err error, missing, invalid string) {
	switch StatusCode(err) {
	case http.StatusUnauthorized:
		// "Www-Authenticate" is the canonical form: Header.Set would
		// allocate to find that out on every refusal.
		switch {
		case errors.Is(err, ErrMissingKey):
			h["Www-Authenticate"] = []string{missing}
		case invalid == "":
			h["Www-Authenticate"] = []string{missing + invalidToken}
		default:
			h["Www-Authenticate"] = []string{invalid}
		}
	case http.StatusTooManyRequests, http.StatusPaymentRequired:
		SetRetryHeaders(h, err)
	}
}

// setRateLimitHeaders reports a key's rate-limit window the way the IETF
// RateLimit header fields draft does: the limit, the requests left, and the
// seconds until the window resets.
func setRateLimitHeaders(h http.Header, st LimitStatus) {
	// Canonical keys set directly, sharing one backing array: Header.Set
	// would canonicalise each name and allocate a slice per header on
	// every request of a rate-limited key.
	// The three numbers share one string, made from a stack buffer.
	var buf [64]byte
	b := strconv.AppendInt(buf[:0], int64(st.Limit), 10)
	n1 := len(b)
	b = strconv.AppendInt(b, int64(max(st.Remaining, 0)), 10)
	n2 := len(b)
	b = strconv.AppendInt(b, ceilSeconds(st.Reset), 10)
	all := string(b)
	v := []string{all[:n1], all[n1:n2], all[n2:]}
	h["Ratelimit-Limit"] = v[0:1:1]
	h["Ratelimit-Remaining"] = v[1:2:2]
	h["Ratelimit-Reset"] = v[2:3:3]
}

// ceilSeconds rounds d up to whole seconds, and never below 1: a client
// told to retry after 0 seconds would retry at once.
func ceilSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// challenges returns the WWW-Authenticate values for a missing and for an
// invalid key (RFC 6750 style), naming the first Authorization scheme among
// the sources, or "ApiKey" when there is none.
func challenges(sources []Source, realm string) (missing, invalid string) {
	scheme := "ApiKey"
	for _, s := range sources {
		if s.kind == authSource {
			scheme = s.name
			break
		}
	}
	missing = fmt.Sprintf("%s realm=%q", scheme, realm)
	return missing, missing + invalidToken
}

// invalidToken is what a challenge adds for a key that is not missing but
// does not work (RFC 6750).
const invalidToken = `, error="invalid_token"`
