package apikeyhuma

// This file is the same in every adapter module that reads keys from
// headers (grpc, connect, huma, oapicodegen): the core middleware's rules
// for header sources, which the core does not export. Keep the copies
// identical.

import (
	"strings"

	"github.com/go-apikey/apikey"
)

// maxCredentialLen bounds one value looked at, as in the core middleware:
// a longer one is malformed, refused before any hashing.
const maxCredentialLen = 1024

// oneKey returns the one key a request carries in values, the values of
// headers whose whole value is a key (such as X-API-Key), and in auth, the
// values of the Authorization header, read under each of schemes. The
// rules are the core middleware's (apikey.FromHeader,
// apikey.FromAuthorization): spaces and tabs around a value are not part
// of it; a scheme matches in any case and its token follows one or more
// spaces or tabs; a matching scheme without a token, a token holding a
// space, a tab or a comma, and a value over 1 KiB are ErrMalformedKey;
// values of other schemes are not keys. The same key repeated is one key;
// two different keys are ErrConflictingKeys, whichever places they came
// from; no key at all is ErrMissingKey.
func oneKey(values, auth []string, schemes ...string) (string, error) {
	var key string
	add := func(v string) error {
		switch {
		case len(v) > maxCredentialLen:
			return apikey.ErrMalformedKey
		case key != "" && v != key:
			return apikey.ErrConflictingKeys
		}
		key = v
		return nil
	}
	for _, v := range values {
		if v = trimOWS(v); v != "" {
			if err := add(v); err != nil {
				return "", err
			}
		}
	}
	for _, scheme := range schemes {
		for _, v := range auth {
			token, ok, err := authToken(v, scheme)
			if err != nil {
				return "", err
			}
			if ok {
				if err := add(token); err != nil {
					return "", err
				}
			}
		}
	}
	if key == "" {
		return "", apikey.ErrMissingKey
	}
	return key, nil
}

// authToken returns the token of an Authorization value under scheme, in
// any case; ok is false for another scheme.
func authToken(header, scheme string) (token string, ok bool, err error) {
	header = trimOWS(header)
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false, nil
	}
	rest := header[len(scheme):]
	if rest == "" {
		return "", false, apikey.ErrMalformedKey // "Bearer" alone
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false, nil // another scheme ("Bearerish") or a glued token
	}
	token = strings.TrimLeft(rest, " \t") // not empty: trimOWS kept a last byte
	if strings.ContainsAny(token, " ,\t") || len(token) > maxCredentialLen {
		return "", false, apikey.ErrMalformedKey
	}
	return token, true, nil
}

// trimOWS drops the spaces and tabs around a header value, which HTTP/1.1
// servers drop and HTTP/2 ones pass on.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}
