// Package forwardauth checks API keys for gateways in front of services not
// written in Go: nginx's auth_request, Traefik's ForwardAuth, Caddy's
// forward_auth and Envoy's HTTP ext_authz all ask an authorization service
// about each request before passing it on, and [New] is such a service for
// the keys of an [apikey.Manager].
//
//	keys := apikey.New(store)
//	http.Handle("/auth", forwardauth.New(keys,
//		forwardauth.WithMiddleware(apikey.WithTrustedProxies(netip.MustParsePrefix("10.0.0.5/32"))), // the gateway
//		forwardauth.Require("POST", "/bots", "bots:write"),
//	))
//
// The handler verifies the key with the Manager's own middleware, so keys
// are read, refused and counted as they are for a Go service: the same
// sources, the same conflicts, the same statuses. A request it lets
// through gets 200 and the principal in response headers the gateway
// copies onto the request it forwards (X-Auth-Key-Id, X-Auth-Owner,
// X-Auth-Key-Name, X-Auth-Scopes by default; see [Headers]), with
// Cache-Control: no-store, so that no cache between them answers for a
// key revoked since, and a limited key's RateLimit headers; one it
// refuses gets the middleware's answer: 401 with WWW-Authenticate, 400,
// 403, 429 with Retry-After and the RateLimit headers, or 503 when the
// store failed, each with its JSON body, plus X-Auth-Error naming the
// body's message for gateways that cannot pass a body on.
//
// # The request being checked
//
// The check request is not the client's request but a question about it.
// By default the handler reads the client's request from the check
// request's headers, as nginx (configured so), Traefik and Caddy send it:
// its method from X-Forwarded-Method and its URI, path and query, from
// X-Forwarded-Uri ([WithURIHeader] and [WithMethodHeader] name others,
// such as X-Original-URI). The headers themselves, X-API-Key and
// Authorization among them, are the client's: every one of these gateways
// copies them onto the check request. A key in the forwarded URI's query
// is a key in the query (apikey.FromQuery); so is one in the check
// request's own query, which Caddy keeps from the client's URI. The same
// key in both is one key; two different keys are apikey.ErrConflictingKeys
// (400), as for a Go service, and never one of them silently.
//
// Envoy sends the client's request itself, its path behind a prefix
// (http_service.path_prefix): [WithPathPrefix] reads it that way.
//
// The gateway must set these headers itself, replacing any a client sent:
// Traefik and Caddy do, nginx does with proxy_set_header. A client that
// could set them could choose the path that [Require] rules judge.
//
// # Client addresses
//
// The peer of a check request is the gateway, so keys with AllowedIPs
// would be judged by the gateway's address. Name the gateway with
// apikey.WithTrustedProxies (through [WithMiddleware]), and have it send
// the client's address in X-Forwarded-For, replacing the client's own
// header at the edge (nginx: proxy_set_header X-Forwarded-For
// $remote_addr; Traefik and Caddy do so unless told to trust the client's).
//
// # What the headers hold
//
// Owners and key names may hold any text. A header value is sent
// percent-encoded (RFC 3986): letters, digits and - . _ ~ : @ / stay as
// they are, and every other byte of the value's UTF-8 is written as %XX.
// A value is therefore printable ASCII without spaces, commas, quotes or
// line breaks: it cannot end its header or start another, a gateway or
// service cannot trim or fold it into another value, and it decodes to
// exactly the stored text with any URL decoder (url.PathUnescape,
// decodeURIComponent, urllib.parse.unquote). "alice" is sent as "alice",
// "Zoë Ops" as "Zo%C3%AB%20Ops". X-Auth-Scopes lists the encoded scopes
// separated by commas. A request let through without a principal (see
// apikey.WithSkip and apikey.WithPreflight) gets the principal headers
// empty, so a gateway that copies them replaces any the client sent.
package forwardauth

import (
	"errors"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/go-apikey/apikey"
)

// ErrOriginalRequest means the check request did not say which request it
// asks about in a form the handler can read: the URI or method header is
// missing while [Require] rules need them, is given twice, or does not
// parse, or (with [WithPathPrefix]) the path lacks the prefix. It is a
// gateway's configuration error, answered with 500.
var ErrOriginalRequest = errors.New("forwardauth: the check request does not say which request it is about")

// Headers names the response headers of the handler. An empty name leaves
// that header out.
type Headers struct {
	// KeyID carries the verified key's ID.
	KeyID string
	// Owner carries the key's owner.
	Owner string
	// Name carries the key's name.
	Name string
	// Scopes carries the key's scopes, separated by commas.
	Scopes string
	// Error carries, on a refusal, the message of its body (apikey.Message),
	// for gateways that pass the status and headers of a refusal on but not
	// its body.
	Error string
}

// DefaultHeaders returns the header names New uses unless told otherwise:
// X-Auth-Key-Id, X-Auth-Owner, X-Auth-Key-Name, X-Auth-Scopes and
// X-Auth-Error.
func DefaultHeaders() Headers {
	return Headers{
		KeyID:  "X-Auth-Key-Id",
		Owner:  "X-Auth-Owner",
		Name:   "X-Auth-Key-Name",
		Scopes: "X-Auth-Scopes",
		Error:  "X-Auth-Error",
	}
}

// Option configures New.
type Option func(*config)

type config struct {
	middleware   []apikey.MiddlewareOption
	headers      Headers
	uriHeader    string
	methodHeader string
	prefix       string
	envoy        bool
	rules        []rule
	onError      apikey.ErrorHandler
}

// WithMiddleware passes options to the Manager's middleware that verifies
// the keys: apikey.WithTrustedProxies to name the gateway, WithSources,
// WithRealm, WithSkip and WithPreflight. WithSkip and WithPreflight are
// given the client's request as the handler reads it (its method, path and
// query). An apikey.WithErrorHandler among them is replaced: use
// [WithErrorHandler]. WithStripCredentials changes nothing the gateway
// sees: remove the key in the gateway's configuration.
func WithMiddleware(opts ...apikey.MiddlewareOption) Option {
	return func(c *config) { c.middleware = append(c.middleware, opts...) }
}

// WithHeaders names the response headers (DefaultHeaders otherwise). New
// panics if a name is not a valid header name, or two are the same.
func WithHeaders(h Headers) Option {
	return func(c *config) { c.headers = h }
}

// WithURIHeader names the request header in which the gateway sends the
// client's request URI, path and query, such as X-Original-URI
// (X-Forwarded-Uri otherwise).
func WithURIHeader(name string) Option {
	return func(c *config) { c.uriHeader = name }
}

// WithMethodHeader names the request header in which the gateway sends the
// client's request method (X-Forwarded-Method otherwise).
func WithMethodHeader(name string) Option {
	return func(c *config) { c.methodHeader = name }
}

// WithPathPrefix reads each check request as the client's request itself,
// with prefix in front of its path, as Envoy's HTTP ext_authz sends it
// with http_service.path_prefix set to prefix: the method and the query
// are the client's, and the path is what follows prefix in the check
// request's target, exactly as received. Give prefix exactly as Envoy has
// it. The URI and method headers are not read. A check request whose
// target does not start with prefix and a slash is refused with
// ErrOriginalRequest.
//
// Serve the handler where no router cleans the path first (http.ServeMux
// redirects a path holding "//" or ".." instead of serving it): for
// example, dispatch on the prefix before the mux.
func WithPathPrefix(prefix string) Option {
	return func(c *config) { c.prefix, c.envoy = prefix, true }
}

// WithErrorHandler answers refused requests, after the handler has set
// the Error header (apikey.DefaultErrorHandler otherwise). As under the
// middleware, the WWW-Authenticate, Retry-After and RateLimit headers are
// set before it runs.
func WithErrorHandler(h apikey.ErrorHandler) Option {
	return func(c *config) { c.onError = h }
}

// New returns a handler that answers a gateway's check requests with the
// decisions of m's middleware: 200 with the principal headers for a
// request to let through, and the middleware's refusal otherwise (see the
// package documentation). It panics if m is nil or an option is invalid.
func New(m *apikey.Manager, opts ...Option) http.Handler {
	if m == nil {
		panic("forwardauth: New called with a nil Manager")
	}
	c := config{
		headers:      DefaultHeaders(),
		uriHeader:    "X-Forwarded-Uri",
		methodHeader: "X-Forwarded-Method",
		onError:      apikey.DefaultErrorHandler,
	}
	for _, opt := range opts {
		opt(&c)
	}
	h := &handler{cfg: c}
	h.setNames()
	if c.onError == nil {
		panic("forwardauth: WithErrorHandler given a nil handler")
	}
	if c.envoy && (!strings.HasPrefix(c.prefix, "/") || strings.ContainsAny(c.prefix, "?#")) {
		panic("forwardauth: WithPathPrefix needs a path starting with /, without ? or #")
	}
	if !c.envoy {
		h.uriHeader = canonicalName(c.uriHeader, "WithURIHeader")
		h.methodHeader = canonicalName(c.methodHeader, "WithMethodHeader")
	}
	mw := m.Middleware(append(c.middleware, apikey.WithErrorHandler(h.fail))...)
	h.check = mw(http.HandlerFunc(h.authorize))
	return h
}

// handler is one configuration of New.
type handler struct {
	cfg   config
	check http.Handler // the middleware, then authorize
	// Canonical header names: the principal's (those configured), the
	// error's, and where the client's request is read from.
	identity                            []string
	keyID, owner, name, scopes, errName string
	uriHeader, methodHeader             string
}

func (h *handler) setNames() {
	hs := h.cfg.headers
	seen := map[string]bool{}
	name := func(n, what string) string {
		if n == "" {
			return ""
		}
		n = canonicalName(n, "WithHeaders: "+what)
		if seen[n] {
			panic("forwardauth: WithHeaders names " + n + " twice")
		}
		seen[n] = true
		return n
	}
	h.keyID, h.owner, h.name, h.scopes = name(hs.KeyID, "KeyID"), name(hs.Owner, "Owner"), name(hs.Name, "Name"), name(hs.Scopes, "Scopes")
	h.errName = name(hs.Error, "Error")
	for _, n := range []string{h.keyID, h.owner, h.name, h.scopes} {
		if n != "" {
			h.identity = append(h.identity, n)
		}
	}
}

// canonicalName returns a header name in canonical form, and panics if it
// is not a header name (RFC 9110 token).
func canonicalName(n, what string) string {
	if n == "" || strings.IndexFunc(n, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		panic("forwardauth: " + what + ": invalid header name " + strings.ToValidUTF8(n, "?"))
	}
	return textproto.CanonicalMIMEHeaderKey(n)
}

func isTokenChar(r rune) bool {
	return r < 0x7f && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	orig, err := h.original(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Empty until a principal fills them: a request let through without
	// one (a skipped route, a preflight) must still replace whatever
	// principal headers the client sent, at gateways that copy them.
	hdr := w.Header()
	for _, n := range h.identity {
		hdr[n] = []string{""}
	}
	h.check.ServeHTTP(w, orig)
}

// authorize runs after the middleware let the request through: the scopes
// the rules require, then allow.
func (h *handler) authorize(w http.ResponseWriter, r *http.Request) {
	next := http.Handler(http.HandlerFunc(h.allow))
	if len(h.cfg.rules) > 0 {
		forms := pathForms(r.URL.Path)
		for i := len(h.cfg.rules) - 1; i >= 0; i-- {
			if rl := &h.cfg.rules[i]; rl.matches(r.Method, forms) {
				next = rl.gate(next)
			}
		}
	}
	next.ServeHTTP(w, r)
}

// allow answers 200 with the principal headers.
func (h *handler) allow(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if p, ok := apikey.FromContext(r.Context()); ok {
		set := func(name, v string) {
			if name != "" {
				hdr[name] = []string{v}
			}
		}
		set(h.keyID, encode(p.KeyID))
		set(h.owner, encode(p.Owner))
		set(h.name, encode(p.Name))
		if h.scopes != "" {
			scopes := p.Scopes()
			for i, s := range scopes {
				scopes[i] = encode(s)
			}
			set(h.scopes, strings.Join(scopes, ","))
		}
	}
	// A cache between the gateway and the handler would answer for keys
	// revoked since.
	hdr["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(http.StatusOK)
}

// fail answers a refused request: no principal headers, the Error header,
// then the error handler.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	hdr := w.Header()
	for _, n := range h.identity {
		delete(hdr, n)
	}
	if h.errName != "" {
		hdr[h.errName] = []string{apikey.Message(err)}
	}
	h.cfg.onError(w, r, err)
}
