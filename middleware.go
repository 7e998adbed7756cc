package apikey

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

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
	hostAuth  HostAuthFunc
	optional  bool
	allowed   []netip.Prefix // service-wide allow-list; nil: every address
	cost      func(*http.Request) int
}

// WithSources sets where the middleware looks for a key, replacing
// DefaultSources. The order only decides which problem is reported first
// when a request has several; a request carrying two different keys is
// always refused with ErrConflictingKeys.
func WithSources(sources ...Source) MiddlewareOption {
	sources = slices.Clone(sources) // the caller may reuse its slice
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
//
// skip must decide exactly as the router behind it does, or it opens other
// routes: compare the path as the client sent it (r.URL.EscapedPath()),
// since routers such as chi route on that, and a skip comparing the
// decoded r.URL.Path == "/healthz" also lets /%68ealthz through, to
// whatever route matches it (a /{account} route, say). Where the router
// allows it, routing public paths outside the middleware is safer still.
func WithSkip(skip func(*http.Request) bool) MiddlewareOption {
	return func(c *middlewareConfig) { c.skip = skip }
}

// WithAllowedIPs makes the middleware answer only clients in one of
// prefixes, whatever key they bring: any other client is refused with 403
// (ErrIPNotAllowed, "Access denied from this IP address") before its key
// is read or looked up. The client address is worked out as for keys with
// AllowedIPs (see WithTrustedProxies: behind a load balancer, name it, or
// every client is the balancer). Routes let through by WithSkip or
// WithPreflight are not checked. It panics on a range CanonicalPrefix
// refuses.
func WithAllowedIPs(prefixes ...netip.Prefix) MiddlewareOption {
	return func(c *middlewareConfig) {
		for _, p := range prefixes {
			n, err := CanonicalPrefix(p)
			if err != nil {
				panic("apikey: WithAllowedIPs: " + err.Error())
			}
			c.allowed = append(c.allowed, n)
		}
	}
}

// WithCost sets what a request costs against its key's rate limits and
// uses: cost(r), 1 or more. A cost below 1 is a bug in cost: the request
// is answered 500, and error handlers and observers see ErrInvalidInput
// naming WithCost; it is never read as 1, nor as free. A request whose cost does
// not fit what a limit or the key's uses have left is refused, and spends
// nothing. For a fixed cost per route, give each route group its own
// middleware, or use a cost function of the method and path:
//
//	search := keys.Middleware(apikey.WithCost(func(*http.Request) int { return 5 }))
//	r.With(search).Post("/search", handler)
//
// A middleware of the same Manager outside this one has verified and
// charged the request already, and this one lets it through: put costly
// routes under their own middleware only, not under a general one as well.
func WithCost(cost func(r *http.Request) int) MiddlewareOption {
	return func(c *middlewareConfig) { c.cost = cost }
}

// WithOptional lets requests without any credential through without a
// principal, for routes that serve anonymous callers too (FromContext
// then reports false). A request that carries a key is still verified,
// and a bad, disabled, expired or revoked key is still refused: a key is
// never ignored. With WithHostAuth, a request the host's authenticator
// does not recognise goes through anonymously too, but one it refuses
// does not.
func WithOptional() MiddlewareOption {
	return func(c *middlewareConfig) { c.optional = true }
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
	mw := &middleware{m: m, cfg: cfg}
	mw.missing, mw.invalid = challenges(cfg.sources, cfg.realm)
	mw.onError = mw.fail // made once: a method value allocates
	return mw.Handler
}

// middleware is one configuration of Manager.Middleware. It speaks HTTP
// only: where the key is, what the client is told, what the next handler
// sees. The Manager decides.
type middleware struct {
	m                *Manager
	cfg              middlewareConfig
	missing, invalid string       // the WWW-Authenticate challenges
	onError          ErrorHandler // fail, for RequireScopes under it
}

// Handler returns next behind the middleware.
func (mw *middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.serve(w, r, next)
	})
}

func (mw *middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	cfg, m := &mw.cfg, mw.m
	if cfg.preflight != nil && isPreflight(r) {
		cfg.preflight.ServeHTTP(w, r)
		return
	}
	if cfg.skip != nil && cfg.skip(r) {
		next.ServeHTTP(w, r)
		return
	}
	client := clientAddr{r: r, trusted: cfg.trusted}
	if cfg.allowed != nil {
		if a := client.get(); !a.IsValid() || !inPrefixes(a, cfg.allowed) {
			m.refused(r.Context(), ErrIPNotAllowed, &client)
			mw.fail(w, r, ErrIPNotAllowed)
			return
		}
	}
	var isKey func(string) bool
	if cfg.hostAuth != nil {
		isKey = m.isKeyCredential
	}
	ex, err := extractKey(r, cfg.sources, isKey)
	key, src := ex.key, ex.from
	if prev := infoFromContext(r.Context()); prev != nil && prev.manager == m && prev.principal.kind == KindKey &&
		(errors.Is(err, ErrMissingKey) || err == nil && m.sameKey(key, &prev.principal, &prev.match)) {
		// Verified by an outer middleware of this Manager (which may
		// have stripped the key): verifying again would count the
		// request twice against its rate limit and uses. Only a key:
		// a principal the host vouched for (WithHostAuth) is judged
		// again, by this middleware's own rules, which may take keys
		// only or another host authenticator.
		next.ServeHTTP(w, r)
		return
	}
	if err == nil && ex.hostToken {
		err = ErrConflictingKeys // a key, and a token of the host's
	}
	if errors.Is(err, ErrMissingKey) {
		mw.withoutKey(w, r, next, &client)
		return
	}
	if err != nil {
		m.refused(r.Context(), err, &client)
		mw.fail(w, r, err)
		return
	}
	// One allocation for the request's context, which also holds the
	// digest while the key is verified.
	ac := &authContext{}
	var match keyMatch
	cost := 1
	if cfg.cost != nil {
		if cost = cfg.cost(r); cost < 1 {
			// A programming error, never read as 1 or as free.
			err := fmt.Errorf("%w: the WithCost function returned %d for %s; a request costs 1 or more", ErrInvalidInput, cost, r.Method)
			m.refused(r.Context(), err, &client)
			mw.fail(w, r, err)
			return
		}
	}
	p, st, err := m.verify(r.Context(), key, &client, ac.digest[:0], &match, cost)
	if err != nil {
		mw.fail(w, r, err)
		return
	}
	if st.Limit > 0 {
		setRateLimitHeaders(w.Header(), st)
	}
	ac.Context, ac.info = r.Context(), authInfo{principal: p, onError: mw.onError, manager: m, match: match, source: src}
	r = r.WithContext(ac)
	if cfg.strip {
		stripCredentials(r, cfg.sources)
	}
	next.ServeHTTP(w, r)
}

// withoutKey serves a request that carries no key: through the host's
// authenticator if there is one, anonymously under WithOptional, and
// otherwise refused, telling the client where to send its key if it sent
// one somewhere the middleware does not read.
func (mw *middleware) withoutKey(w http.ResponseWriter, r *http.Request, next http.Handler, client *clientAddr) {
	cfg, m := &mw.cfg, mw.m
	if cfg.hostAuth != nil {
		p, ok, err := m.hostAuthenticate(cfg.hostAuth, r)
		if err != nil {
			m.refused(r.Context(), err, client)
			mw.fail(w, r, err)
			return
		}
		if ok {
			ctx := withAuth(r.Context(), authInfo{principal: p, onError: mw.onError, manager: m})
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
	}
	if cfg.optional {
		next.ServeHTTP(w, r)
		return
	}
	err := misplacedKey(r, cfg.sources)
	m.refused(r.Context(), err, client)
	mw.fail(w, r, err)
}

// fail answers a refused request: the challenge or rate-limit headers its
// status needs, then the error handler.
func (mw *middleware) fail(w http.ResponseWriter, r *http.Request, err error) {
	setRefusalHeaders(w.Header(), err, mw.missing, mw.invalid)
	mw.cfg.onError(w, r, err)
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// WithTrustedProxies names the proxies (load balancers, ingress) whose
// X-Forwarded-For and X-Real-IP headers the middleware believes when it
// works out the client address for keys with AllowedIPs. A request from any
// other peer is judged by its own address, whatever headers it sends: a
// client cannot spoof its way into an allow-list.
//
// X-Forwarded-For is read right to left, skipping trusted hops, and the
// first untrusted address is the client; X-Real-IP is used only when there
// is no X-Forwarded-For. An unparsable address makes the client unknown, and
// keys with AllowedIPs then refuse the request.
//
// Every address is compared in one form, whether it is the peer, a
// forwarded hop, X-Real-IP or the address given to VerifyFrom: an
// IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address it
// carries, and a zone (fe80::1%eth0) is dropped, since no prefix can name
// one; fe80::1 is therefore the same client on every interface. Prefixes
// are read the same way, here and in AllowedIPs: an IPv4-mapped prefix
// such as ::ffff:10.0.0.0/104 is the IPv4 prefix it names, 10.0.0.0/8.
// A mapped prefix shorter than /96 spans IPv4-mapped and other IPv6
// addresses and names no IPv4 range; Middleware panics on one, as on an
// invalid prefix.
func WithTrustedProxies(proxies ...netip.Prefix) MiddlewareOption {
	return func(c *middlewareConfig) {
		for _, p := range proxies {
			n, err := CanonicalPrefix(p)
			if err != nil {
				panic("apikey: WithTrustedProxies: " + err.Error())
			}
			c.trusted = append(c.trusted, n)
		}
	}
}
