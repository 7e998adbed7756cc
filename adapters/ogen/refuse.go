package apikeyogen

// This file is the same in the ogen and oapicodegen adapter modules: what
// the core middleware does before its error handler, which the core does
// not export. Keep the copies identical.

import (
	"errors"
	"net/http"

	"github.com/go-apikey/apikey"
)

// refuse answers a request refused with err as the core middleware does
// with its default error handler: a challenge for 401 (challenge, with
// error="invalid_token" unless the key was missing), apikey.SetRetryHeaders
// for 429 and 402 (Retry-After, and the RateLimit headers over a rate
// limit), then apikey.DefaultErrorHandler's status and JSON body.
func refuse(w http.ResponseWriter, r *http.Request, err error, challenge string) {
	h := w.Header()
	switch apikey.StatusCode(err) {
	case http.StatusUnauthorized:
		if !errors.Is(err, apikey.ErrMissingKey) {
			challenge += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", challenge)
	case http.StatusTooManyRequests, http.StatusPaymentRequired:
		apikey.SetRetryHeaders(h, err)
	}
	apikey.DefaultErrorHandler(w, r, err)
}
