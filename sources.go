package apikey

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// A Source is a place in a request where the middleware looks for a key.
// Make one with FromHeader, FromAuthorization, FromQuery or FromCookie.
type Source struct {
	kind sourceKind
	name string // canonical header name, auth scheme, query parameter or cookie name
}

type sourceKind uint8

const (
	headerSource sourceKind = iota + 1
	authSource
	querySource
	cookieSource
)

// FromHeader looks for the key as the whole value of the named header, such
// as X-API-Key. Spaces and tabs around the value are not part of it, as
// RFC 9110 says of every field value: an HTTP/1.1 server drops them before
// the middleware sees the header, an HTTP/2 one may not, and a key must
// not depend on the protocol it came by.
func FromHeader(name string) Source {
	return Source{kind: headerSource, name: textproto.CanonicalMIMEHeaderKey(name)}
}

// FromAuthorization looks for the key in the Authorization header under the
// given scheme, such as "Bearer" or "Token". The scheme matches in any case
// ("bearer", "BEARER") as RFC 7235 says; the key must follow it after one or
// more spaces or tabs and contain no space, tab or comma. A tab counts as a
// space because many servers and proxies split on any whitespace: a value
// such as "Bearer<TAB>key" carries a key for them, so it does here too, and
// conflicts with a different key in another source. As for FromHeader,
// spaces and tabs around the whole value are ignored.
func FromAuthorization(scheme string) Source {
	return Source{kind: authSource, name: scheme}
}

// FromQuery looks for the key in the named URL query parameter, such as
// x-api-key.
//
// Readers of query strings disagree on ';': Go's url.ParseQuery and most
// servers split pairs on '&' only, while older Go, many proxies and some
// frameworks split on ';' as well. The middleware reads the query both
// ways, and every value of the parameter either kind of reader would see
// is a credential: "a=1;x-api-key=K" carries the key K, and a different
// key elsewhere in the request is ErrConflictingKeys. A value holding a
// raw ';' ("x-api-key=K;b=2") is ErrMalformedKey, since the two kinds of
// reader see two different values in it; a ';' that belongs to a key is
// sent escaped, as %3B. WithStripCredentials removes every such pair, and
// every ';'-separated part naming the parameter, leaving the rest of the
// query as it was.
//
// Query strings end up in access logs, proxy logs and browser history, so a
// key sent this way should be treated as exposed sooner. Leave this source
// out (see WithSources) unless your clients cannot set headers.
func FromQuery(param string) Source {
	return Source{kind: querySource, name: param}
}

// FromCookie looks for the key as the value of the named cookie, for
// browser clients of an API that cannot keep a key in script: set it as a
// cookie (HttpOnly, Secure, SameSite=Strict or Lax) and the browser sends
// it on every request.
//
// It is not among DefaultSources, and it must be added with care: a
// browser sends cookies with requests that other sites make it send, so
// a cookie is a credential an attacker's page can use (cross-site request
// forgery). With SameSite=Strict (or Lax, for safe methods only) the
// browser does not attach it to cross-site requests; beyond that, refuse
// state-changing requests that lack a CSRF token or a custom header a
// cross-site form cannot send. Several cookies of that name with
// different values are ErrConflictingKeys, like two keys in any sources.
func FromCookie(name string) Source {
	return Source{kind: cookieSource, name: name}
}

// SourceKind is the kind of place a [Source] reads: a header, the
// Authorization header under a scheme, or the URL query.
type SourceKind uint8

// The kinds of Source.
const (
	// SourceHeader is a header whose whole value is the key (FromHeader).
	SourceHeader SourceKind = SourceKind(headerSource)
	// SourceAuthorization is the Authorization header under a scheme
	// (FromAuthorization).
	SourceAuthorization SourceKind = SourceKind(authSource)
	// SourceQuery is a URL query parameter (FromQuery).
	SourceQuery SourceKind = SourceKind(querySource)
	// SourceCookie is a cookie (FromCookie).
	SourceCookie SourceKind = SourceKind(cookieSource)
)

// Kind returns the kind of place s reads.
func (s Source) Kind() SourceKind { return SourceKind(s.kind) }

// Name returns the header name (canonical), the Authorization scheme, the
// query parameter or the cookie name s reads.
func (s Source) Name() string { return s.name }

// String describes the source, such as "header X-Api-Key".
func (s Source) String() string {
	switch s.kind {
	case headerSource:
		return "header " + s.name
	case authSource:
		return "Authorization " + s.name
	case querySource:
		return "query " + s.name
	case cookieSource:
		return "cookie " + s.name
	}
	return "invalid source"
}

// DefaultSources returns the sources the middleware reads when WithSources
// is not given, in this order: the X-API-Key header, Authorization: Bearer,
// Authorization: Token, and the x-api-key query parameter.
func DefaultSources() []Source {
	return []Source{
		FromHeader("X-API-Key"),
		FromAuthorization("Bearer"),
		FromAuthorization("Token"),
		FromQuery("x-api-key"),
	}
}

// maxCredentialLen bounds a single header or query value the middleware
// will look at; longer values are refused as malformed before any hashing.
const maxCredentialLen = 1024

// extraction is what extractKey found in a request.
type extraction struct {
	key  string // the one key, when there is one
	from Source // where it was read: the first source, or a query one
	// hostToken is set when an Authorization token was left to the
	// host's authenticator because isKey said it is no key.
	hostToken bool
}

// extractKey returns the one key the request carries across sources, and
// the source it was read from: the first that held it, or a query source
// when the URL also held it, since that is where it is most exposed. Empty
// values, and header values of only spaces and tabs, count as absent;
// identical repeats are fine; two different values are ErrConflictingKeys.
//
// isKey, when not nil, says whether an Authorization token is a key at
// all: one that is not (a JWT for the host's own authentication) is no
// credential of ours, and sets hostToken instead.
func extractKey(r *http.Request, sources []Source, isKey func(string) bool) (extraction, error) {
	var ex extraction
	found := false
	auth := r.Header["Authorization"]
	var cur Source
	add := func(v string) error {
		if len(v) > maxCredentialLen {
			return ErrMalformedKey
		}
		if found && v != ex.key {
			return ErrConflictingKeys
		}
		if !found || cur.kind == querySource {
			ex.from = cur
		}
		ex.key, found = v, true
		return nil
	}
	for _, s := range sources {
		cur = s
		switch s.kind {
		case headerSource:
			for _, v := range r.Header[s.name] {
				if v = trimOWS(v); v == "" {
					continue
				}
				if err := add(v); err != nil {
					return extraction{}, err
				}
			}
		case authSource:
			for _, v := range auth {
				token, ok, err := authToken(v, s.name)
				if err != nil {
					return extraction{}, err
				}
				if !ok {
					continue
				}
				if isKey != nil && !isKey(token) {
					ex.hostToken = true
					continue
				}
				if err := add(token); err != nil {
					return extraction{}, err
				}
			}
		case querySource:
			if r.URL == nil || r.URL.RawQuery == "" {
				continue
			}
			err := queryValues(r.URL.RawQuery, s.name, add)
			if err != nil {
				return extraction{}, err
			}
		case cookieSource:
			if len(r.Header["Cookie"]) == 0 {
				continue
			}
			for _, c := range r.CookiesNamed(s.name) {
				if c.Value == "" {
					continue
				}
				if err := add(c.Value); err != nil {
					return extraction{}, err
				}
			}
		}
	}
	if !found {
		return ex, ErrMissingKey
	}
	return ex, nil
}

// OneKey returns the one key among credentials read by code of its own,
// such as an adapter for another framework, by the middleware's rules:
// values are credentials read whole (an X-API-Key header, a query
// parameter, a cookie), and authorization the values of Authorization
// headers, read under each of schemes ("Bearer", "Token"). Spaces and tabs
// around a value are not part of it; a scheme matches in any case and its
// token follows one or more spaces or tabs; values of other schemes are
// not keys. The same key repeated is one key. It returns ErrMissingKey
// when there is none, ErrMalformedKey for a value over 1 KiB, a scheme
// without a token or a token holding a space, a tab or a comma, and
// ErrConflictingKeys for two different keys, wherever they came from.
func OneKey(values, authorization []string, schemes ...string) (string, error) {
	var key string
	add := func(v string) error {
		switch {
		case len(v) > maxCredentialLen:
			return ErrMalformedKey
		case key != "" && v != key:
			return ErrConflictingKeys
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
		for _, v := range authorization {
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
		return "", ErrMissingKey
	}
	return key, nil
}

// authToken returns the credentials of an Authorization header value when
// its scheme is scheme (in any case). ok is false for another scheme.
// Spaces and tabs around the value are dropped first (see trimOWS), and
// the scheme ends at a space or a tab. A matching scheme with no token, or
// with a token holding a space, a tab or a comma, is ErrMalformedKey.
func authToken(header, scheme string) (token string, ok bool, err error) {
	header = trimOWS(header)
	if len(header) < len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false, nil
	}
	rest := header[len(scheme):]
	if rest == "" {
		return "", false, ErrMalformedKey // "Bearer" alone
	}
	if rest[0] != ' ' && rest[0] != '\t' {
		return "", false, nil // another scheme, such as "Bearerish", or a glued key
	}
	// Not empty: the value ends in something other than a space or tab.
	token = strings.TrimLeft(rest, " \t")
	if strings.ContainsAny(token, " ,\t") || len(token) > maxCredentialLen {
		return "", false, ErrMalformedKey
	}
	return token, true, nil
}

// trimOWS drops the spaces and tabs around a header value. An HTTP/1.1
// server drops them while reading the field (RFC 9110, section 5.5) and
// an HTTP/2 server passes them on, so a value is read the same whichever
// protocol brought it only once they are gone.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// queryValues calls add with each value of param in a raw query, without
// building a url.Values map, as both kinds of reader FromQuery describes
// see them: in the pairs between '&', and in the parts between ';' of the
// other pairs. An undecodable value is ErrMalformedKey, and so is a value
// of a pair holding a raw ';': Go's url.ParseQuery drops such a pair,
// readers splitting on '&' alone take it whole, and those splitting on
// ';' too take its first part, so it would mean different keys to
// different readers.
func queryValues(raw, param string, add func(string) error) error {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if value, ok := paramValue(pair, param); ok {
			if strings.Contains(value, ";") {
				return ErrMalformedKey
			}
			if err := addQueryValue(value, add); err != nil {
				return err
			}
			continue
		}
		if !strings.Contains(pair, ";") {
			continue
		}
		for part := range strings.SplitSeq(pair, ";") {
			if value, ok := paramValue(part, param); ok {
				if err := addQueryValue(value, add); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// paramValue returns the raw value of a query pair, and whether the pair
// is named param once its name is decoded. A name that does not decode
// names no parameter, so it is not param either.
func paramValue(pair, param string) (string, bool) {
	name, value, _ := strings.Cut(pair, "=")
	if strings.ContainsAny(name, "%+") {
		var err error
		if name, err = url.QueryUnescape(name); err != nil {
			return "", false
		}
	}
	return value, name == param
}

// addQueryValue decodes a raw query value and passes it to add, unless it
// is empty.
func addQueryValue(value string, add func(string) error) error {
	if strings.ContainsAny(value, "%+") {
		var err error
		if value, err = url.QueryUnescape(value); err != nil {
			return ErrMalformedKey
		}
	}
	if value == "" {
		return nil
	}
	return add(value)
}

// stripCredentials removes every source's credential from r, which must be
// a copy made by WithContext; the header map is cloned first, since that
// copy shares it with the caller's request.
func stripCredentials(r *http.Request, sources []Source) {
	r.Header = r.Header.Clone()
	for _, s := range sources {
		switch s.kind {
		case headerSource:
			r.Header.Del(s.name)
		case authSource:
			kept := r.Header["Authorization"][:0]
			for _, v := range r.Header["Authorization"] {
				if _, ok, err := authToken(v, s.name); !ok && err == nil {
					kept = append(kept, v)
				}
			}
			if len(kept) == 0 {
				r.Header.Del("Authorization")
			} else {
				r.Header["Authorization"] = kept
			}
		case querySource:
			if r.URL != nil && r.URL.RawQuery != "" {
				u := *r.URL
				u.RawQuery = withoutParam(u.RawQuery, s.name)
				r.URL = &u
				r.RequestURI = u.RequestURI()
			}
			// An outer handler may have parsed the form already.
			if r.Form != nil {
				r.Form = cloneValuesWithout(r.Form, s.name)
			}
			if r.PostForm != nil {
				r.PostForm = cloneValuesWithout(r.PostForm, s.name)
			}
		case cookieSource:
			if len(r.Header["Cookie"]) > 0 {
				stripCookie(r.Header, s.name)
			}
		}
	}
}

// stripCookie removes every cookie named name from h's Cookie headers,
// keeping the others as they were written.
func stripCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h["Cookie"] {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			n, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if n != name {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
	} else {
		h["Cookie"] = kept
	}
}

// withoutParam returns raw without the pairs named param, and without the
// ';'-separated parts named param inside other pairs (where readers that
// split on ';' find a key, see FromQuery), keeping every other byte as it
// was: re-encoding would reorder the query and drop pairs url.ParseQuery
// refuses, such as those holding a ';'.
func withoutParam(raw, param string) string {
	var kept []string
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if _, ok := paramValue(pair, param); ok {
			continue
		}
		if strings.Contains(pair, ";") {
			var parts []string
			for part := range strings.SplitSeq(pair, ";") {
				if _, ok := paramValue(part, param); !ok {
					parts = append(parts, part)
				}
			}
			if pair = strings.Join(parts, ";"); pair == "" {
				continue
			}
		}
		kept = append(kept, pair)
	}
	return strings.Join(kept, "&")
}

func cloneValuesWithout(v url.Values, name string) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		if k != name {
			c[k] = vs
		}
	}
	return c
}
