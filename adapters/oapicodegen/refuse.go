package apikeyoapi

// This file is the same in the ogen and oapicodegen adapter modules: what
// the core middleware does before its error handler, which the core does
// not export. Keep the copies identical.

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-apikey/apikey"
)

// refuse answers a request refused with err as the core middleware does
// with its default error handler: a challenge for 401 (challenge, with
// error="invalid_token" unless the key was missing), Retry-After (whole
// seconds, at least one) and RateLimit-Limit, -Remaining and -Reset for
// 429, then apikey.DefaultErrorHandler's status and JSON body.
func refuse(w http.ResponseWriter, r *http.Request, err error, challenge string) {
	h := w.Header()
	switch apikey.StatusCode(err) {
	case http.StatusUnauthorized:
		if !errors.Is(err, apikey.ErrMissingKey) {
			challenge += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", challenge)
	case http.StatusTooManyRequests:
		var rl *apikey.RateLimitError
		if errors.As(err, &rl) {
			reset := strconv.FormatInt(max(int64((rl.Status.Reset+time.Second-1)/time.Second), 1), 10)
			h.Set("Retry-After", reset)
			h.Set("RateLimit-Limit", strconv.Itoa(rl.Status.Limit))
			h.Set("RateLimit-Remaining", strconv.Itoa(max(rl.Status.Remaining, 0)))
			h.Set("RateLimit-Reset", reset)
		}
	}
	apikey.DefaultErrorHandler(w, r, err)
}
