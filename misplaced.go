package apikey

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ErrMisplacedKey means the request carried no key where the middleware
// reads keys, but something with a key's shape and checksum elsewhere:
// an Authorization header under another scheme or none, Basic
// credentials, another header, another query parameter. It comes wrapped
// in a *MisplacedKeyError, which is also ErrMissingKey (401), and whose
// message tells the client where to send the key instead.
var ErrMisplacedKey = errors.New("apikey: API key sent where it is not read")

// MisplacedKeyError is the refusal of a request whose key was sent
// somewhere the middleware does not read. It never holds the key.
type MisplacedKeyError struct {
	// Place is where the key was found, such as "the Authorization header
	// under the Basic scheme" or "the query parameter api_key".
	Place string
	// Sources are where the middleware reads keys.
	Sources []Source
}

func (e *MisplacedKeyError) Error() string {
	return "apikey: missing API key: one was sent in " + e.Place + ", which is not read; send it in " + describeSources(e.Sources)
}

// Is makes the error ErrMissingKey and ErrMisplacedKey to errors.Is.
func (e *MisplacedKeyError) Is(target error) bool {
	return target == ErrMissingKey || target == ErrMisplacedKey
}

// clientMessage is what the client is told: where to send its key.
func (e *MisplacedKeyError) clientMessage() string {
	return "Missing API key: send it in " + describeSources(e.Sources)
}

// describeSources names sources for a person: "the X-Api-Key header,
// Authorization: Bearer <key> or the x-api-key query parameter".
func describeSources(sources []Source) string {
	var parts []string
	for _, s := range sources {
		var d string
		switch s.kind {
		case headerSource:
			d = "the " + s.name + " header"
		case authSource:
			d = "Authorization: " + s.name + " <key>"
		case querySource:
			d = "the " + s.name + " query parameter"
		case cookieSource:
			d = "the " + s.name + " cookie"
		}
		if d != "" && !slices.Contains(parts, d) {
			parts = append(parts, d)
		}
	}
	switch len(parts) {
	case 0:
		return "a source this service reads"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// misplacedKey returns the error for a request without a key in sources:
// a *MisplacedKeyError when a key is found anywhere else in the request,
// ErrMissingKey otherwise. It runs only on that path, so the requests
// that carry their key where it belongs never pay for it.
func misplacedKey(r *http.Request, sources []Source) error {
	if place := findMisplaced(r, sources); place != "" {
		return &MisplacedKeyError{Place: place, Sources: sources}
	}
	return ErrMissingKey
}

func findMisplaced(r *http.Request, sources []Source) string {
	reads := func(kind sourceKind, name string) bool {
		return slices.ContainsFunc(sources, func(s Source) bool {
			return s.kind == kind && (s.name == name || kind == authSource && strings.EqualFold(s.name, name))
		})
	}
	for _, v := range r.Header["Authorization"] {
		v = trimOWS(v)
		scheme, token, spaced := strings.Cut(strings.ReplaceAll(v, "\t", " "), " ")
		token = strings.TrimLeft(token, " ")
		switch {
		case !spaced && LooksLikeKey(v):
			for _, src := range sources {
				if src.kind == authSource && len(v) > len(src.name) && strings.EqualFold(v[:len(src.name)], src.name) {
					return "the Authorization header, glued to the " + src.name + " scheme without a space"
				}
			}
			return "the Authorization header, without a scheme"
		case spaced && strings.EqualFold(scheme, "Basic"):
			if b, err := base64.StdEncoding.DecodeString(token); err == nil && LooksLikeKey(string(b)) {
				return "the Authorization header as Basic credentials"
			}
		case spaced && !reads(authSource, scheme) && LooksLikeKey(token):
			if mayHoldKey(scheme) {
				return "the Authorization header, after text shaped like a key"
			}
			return "the Authorization header under the " + scheme + " scheme"
		}
	}
	for name, vs := range r.Header {
		if name == "Authorization" || name == "Cookie" || reads(headerSource, name) {
			continue
		}
		if slices.ContainsFunc(vs, LooksLikeKey) {
			if mayHoldKey(name) {
				return "a header whose name is shaped like a key"
			}
			return "the " + name + " header"
		}
	}
	if r.URL != nil && r.URL.RawQuery != "" {
		for pair := range strings.SplitSeq(strings.ReplaceAll(r.URL.RawQuery, ";", "&"), "&") {
			name, value, _ := strings.Cut(pair, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if v, err := url.QueryUnescape(value); err == nil {
				value = v
			}
			if !reads(querySource, name) && LooksLikeKey(value) {
				if mayHoldKey(name) {
					return "a query parameter whose name is shaped like a key"
				}
				return "the query parameter " + url.QueryEscape(name)
			}
		}
	}
	if len(r.Header["Cookie"]) > 0 {
		for _, c := range r.Cookies() {
			if !reads(cookieSource, c.Name) && LooksLikeKey(c.Value) {
				if mayHoldKey(c.Name) {
					return "a cookie whose name is shaped like a key"
				}
				return "the cookie " + c.Name
			}
		}
	}
	return ""
}

// mayHoldKey reports whether a name the client chose (a scheme, a header,
// a query parameter, a cookie) could hold a key, whole or mistyped, or
// one with its case changed (header names are canonicalised): the place
// is then described without it, since the message reaches observers and
// logs.
func mayHoldKey(name string) bool { return LooksLikeKey(name) || ResemblesKey(name) }
