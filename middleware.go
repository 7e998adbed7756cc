package apikey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Source is a place in a request where the middleware looks for a key.
// Make one with FromHeader, FromAuthorization or FromQuery.
type Source struct {
	kind sourceKind
	name string // canonical header name, auth scheme or query parameter
}

type sourceKind uint8

const (
	headerSource sourceKind = iota + 1
	authSource
	querySource
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
)

// Kind returns the kind of place s reads.
func (s Source) Kind() SourceKind { return SourceKind(s.kind) }

// Name returns the header name (canonical), the Authorization scheme or the
// query parameter s reads.
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

// An ErrorHandler writes the response for a refused request. err wraps one
// of the package's sentinel errors (ErrMissingKey, ErrKeyDisabled,
// ErrStoreUnavailable...). When StatusCode(err) is 401, the middleware has
// already set the WWW-Authenticate header; a handler that answers with
// another status should delete it.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

// StatusCode maps an error from the middleware or Verify to the HTTP status
// the default error handler answers with: 401 for a missing, malformed,
// unknown, disabled, expired or too old key; 400 for conflicting keys; 403
// for a missing scope, a refused client address or a spent usage limit; 429
// over a rate limit; 503 when the store or limiter failed or timed out; 500
// otherwise.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrMissingKey), errors.Is(err, ErrMalformedKey),
		errors.Is(err, ErrUnknownKey), errors.Is(err, ErrKeyDisabled),
		errors.Is(err, ErrKeyExpired), errors.Is(err, ErrKeyTooOld):
		return http.StatusUnauthorized
	case errors.Is(err, ErrConflictingKeys):
		return http.StatusBadRequest
	case errors.Is(err, ErrInsufficientScope), errors.Is(err, ErrIPNotAllowed),
		errors.Is(err, ErrUsageExhausted):
		return http.StatusForbidden
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
		if errors.Is(err, ErrMissingKey) {
			return "Missing API key"
		}
		return "Invalid API key"
	case http.StatusBadRequest:
		return "Conflicting API keys"
	case http.StatusForbidden:
		switch {
		case errors.Is(err, ErrIPNotAllowed):
			return "Access denied from this IP address"
		case errors.Is(err, ErrUsageExhausted):
			return "API key usage limit reached"
		}
		return "Insufficient scope"
	case http.StatusTooManyRequests:
		return "Rate limit exceeded"
	case http.StatusServiceUnavailable:
		return "Service unavailable"
	}
	return "Internal server error"
}

// ErrorBody is the JSON body of the default error response, the shape
// LangBot clients expect: {"code":-1,"msg":"Invalid API key"}.
type ErrorBody struct {
	// Code is always -1 for an error, as LangBot's API answers.
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
	b, _ := json.Marshal(ErrorBody{Code: -1, Msg: msg})
	b = append(b, '\n')
	errorBodies.Store(msg, b)
	return b
}

// MiddlewareOption configures Manager.Middleware.
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	sources   []Source
	onError   ErrorHandler
	realm     string
	strip     bool
	preflight http.Handler
	skip      func(*http.Request) bool
	trusted   []netip.Prefix
}

// WithSources sets where the middleware looks for a key, replacing
// DefaultSources. The order only decides which problem is reported first
// when a request has several; a request carrying two different keys is
// always refused with ErrConflictingKeys.
func WithSources(sources ...Source) MiddlewareOption {
	return func(c *middlewareConfig) { c.sources = sources }
}

// WithErrorHandler replaces DefaultErrorHandler for refused requests; the
// same handler answers for RequireScopes under this middleware.
func WithErrorHandler(h ErrorHandler) MiddlewareOption {
	return func(c *middlewareConfig) { c.onError = h }
}

// WithRealm sets the realm named in the WWW-Authenticate challenge of 401
// responses ("api" by default).
func WithRealm(realm string) MiddlewareOption {
	return func(c *middlewareConfig) { c.realm = realm }
}

// WithStripCredentials removes the key from the request once it is
// verified, so the next handler, and whatever it logs or proxies to, never
// sees it: the key headers, an Authorization header carrying the key, and
// the query parameter, also where only a reader splitting on ';' finds it
// (see FromQuery).
func WithStripCredentials() MiddlewareOption {
	return func(c *middlewareConfig) { c.strip = true }
}

// WithPreflight answers CORS preflight requests (OPTIONS with Origin and
// Access-Control-Request-Method headers) without asking for a key: browsers
// never send credentials on a preflight, so challenging it breaks them.
// Preflights go to cors, your CORS handler, and never to the protected
// handler, which would otherwise run without a principal for any route
// that accepts every method. With a nil cors they get 204 No Content.
func WithPreflight(cors http.Handler) MiddlewareOption {
	return func(c *middlewareConfig) {
		c.preflight = cors
		if cors == nil {
			c.preflight = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			})
		}
	}
}

// WithSkip lets requests for which skip returns true through without a key,
// for public routes such as health checks. They carry no Principal.
func WithSkip(skip func(*http.Request) bool) MiddlewareOption {
	return func(c *middlewareConfig) { c.skip = skip }
}

// Middleware returns net/http middleware that verifies the request's key
// and puts its Principal on the request context for FromContext. A request
// without a valid key is refused through the error handler (by default:
// 401 with WWW-Authenticate and a JSON body, 503 if the store failed). It
// panics if an option is invalid.
func (m *Manager) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	cfg := middlewareConfig{sources: DefaultSources(), onError: DefaultErrorHandler, realm: "api"}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := checkSources(cfg.sources); err != nil {
		panic(err.Error())
	}
	if cfg.onError == nil {
		panic("apikey: WithErrorHandler given a nil handler")
	}
	if strings.ContainsAny(cfg.realm, "\"\\\r\n") {
		panic("apikey: WithRealm given a realm with a quote, backslash or newline")
	}
	missing, invalid := challenges(cfg.sources, cfg.realm)
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		switch StatusCode(err) {
		case http.StatusUnauthorized:
			// "Www-Authenticate" is the canonical form: Header.Set would
			// allocate to find that out on every refusal.
			if errors.Is(err, ErrMissingKey) {
				w.Header()["Www-Authenticate"] = []string{missing}
			} else {
				w.Header()["Www-Authenticate"] = []string{invalid}
			}
		case http.StatusTooManyRequests:
			var rl *RateLimitError
			if errors.As(err, &rl) {
				setRateLimitHeaders(w.Header(), rl.Status)
				w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(rl.Status.Reset), 10))
			}
		}
		cfg.onError(w, r, err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cfg.preflight != nil && isPreflight(r) {
				cfg.preflight.ServeHTTP(w, r)
				return
			}
			if cfg.skip != nil && cfg.skip(r) {
				next.ServeHTTP(w, r)
				return
			}
			client := clientAddr{r: r, trusted: cfg.trusted}
			key, src, err := extractKey(r, cfg.sources)
			if prev := infoFromContext(r.Context()); prev != nil && prev.manager == m &&
				(errors.Is(err, ErrMissingKey) || err == nil && m.sameKey(key, &prev.principal, &prev.match)) {
				// Verified by an outer middleware of this Manager (which may
				// have stripped the key): verifying again would count the
				// request twice against its rate limit and uses.
				next.ServeHTTP(w, r)
				return
			}
			if err != nil {
				m.refused(r.Context(), err, &client)
				fail(w, r, err)
				return
			}
			// One allocation for the request's context, which also holds
			// the digest while the key is verified.
			ac := &authContext{}
			var match keyMatch
			p, st, err := m.verify(r.Context(), key, &client, ac.digest[:0], &match)
			if err != nil {
				fail(w, r, err)
				return
			}
			if st.Limit > 0 {
				setRateLimitHeaders(w.Header(), st)
			}
			ac.Context, ac.info = r.Context(), authInfo{principal: p, onError: fail, manager: m, match: match, source: src}
			r = r.WithContext(ac)
			if cfg.strip {
				stripCredentials(r, cfg.sources)
			}
			next.ServeHTTP(w, r)
		})
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

func checkSources(sources []Source) error {
	if len(sources) == 0 {
		return errors.New("apikey: WithSources given no sources")
	}
	for _, s := range sources {
		if s.kind == 0 || s.name == "" || strings.ContainsAny(s.name, " \t\r\n,") {
			return fmt.Errorf("apikey: invalid source %q: use FromHeader, FromAuthorization or FromQuery with a name", s.name)
		}
	}
	return nil
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
	return missing, missing + `, error="invalid_token"`
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// extractKey returns the one key the request carries across sources, and
// the source it was read from: the first that held it, or a query source
// when the URL also held it, since that is where it is most exposed. Empty
// values, and header values of only spaces and tabs, count as absent;
// identical repeats are fine; two different values are ErrConflictingKeys.
func extractKey(r *http.Request, sources []Source) (string, Source, error) {
	var key string
	var from Source
	found := false
	auth := r.Header["Authorization"]
	var cur Source
	add := func(v string) error {
		if len(v) > maxCredentialLen {
			return ErrMalformedKey
		}
		if found && v != key {
			return ErrConflictingKeys
		}
		if !found || cur.kind == querySource {
			from = cur
		}
		key, found = v, true
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
					return "", Source{}, err
				}
			}
		case authSource:
			for _, v := range auth {
				token, ok, err := authToken(v, s.name)
				if err != nil {
					return "", Source{}, err
				}
				if ok {
					if err := add(token); err != nil {
						return "", Source{}, err
					}
				}
			}
		case querySource:
			if r.URL == nil || r.URL.RawQuery == "" {
				continue
			}
			err := queryValues(r.URL.RawQuery, s.name, add)
			if err != nil {
				return "", Source{}, err
			}
		}
	}
	if !found {
		return "", Source{}, ErrMissingKey
	}
	return key, from, nil
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
		}
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

// RequireScopes returns middleware that lets a request through only when the
// Principal the API key middleware verified has every one of scopes;
// otherwise it answers 403 (ErrInsufficientScope) through that middleware's
// error handler. Without a Principal on the context it answers 401 with
// DefaultErrorHandler, so a route can never be opened by forgetting the
// key middleware. It panics if a scope is invalid (see CleanScopes), since
// such a scope could never be granted.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	if _, err := CleanScopes(scopes); err != nil || len(scopes) == 0 {
		panic(fmt.Sprintf("apikey: RequireScopes needs at least one valid scope, got %q", scopes))
	}
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := infoFromContext(r.Context())
			if info == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
				DefaultErrorHandler(w, r, ErrMissingKey)
				return
			}
			for _, s := range scopes {
				if !info.principal.HasScope(s) {
					err := fmt.Errorf("%w: %q required", ErrInsufficientScope, s)
					if m := info.manager; m != nil && m.observe != nil {
						m.observe(r.Context(), Event{KeyID: info.principal.KeyID, Owner: info.principal.Owner, Err: err})
					}
					onError := info.onError
					if onError == nil {
						onError = DefaultErrorHandler
					}
					onError(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
