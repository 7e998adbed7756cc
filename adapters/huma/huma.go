// Package apikeyhuma checks API keys in huma APIs
// (github.com/danielgtaylor/huma/v2): a huma middleware in front of an
// [apikey.Manager], driven by the security requirements the API's
// operations already declare in its OpenAPI document.
//
//	config := huma.DefaultConfig("Bots", "1.0.0")
//	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
//		"ApiKeyAuth": {Type: "apiKey", In: "header", Name: "X-API-Key"},
//	}
//	api := humago.New(mux, config)
//	api.UseMiddleware(apikeyhuma.Middleware(api, keys, "ApiKeyAuth")) // before huma.Register
//	huma.Register(api, huma.Operation{
//		Method: http.MethodPost, Path: "/bots",
//		Security: []map[string][]string{{"ApiKeyAuth": {"bots:write"}}},
//	}, createBot)
//
// Handlers read the key's owner with apikey.FromContext(ctx).
//
// An operation needs a key when one of its security requirements names a
// scheme given to Middleware; an operation without security requirements
// of its own has the document's (huma.Config's OpenAPI Security), as
// OpenAPI says, and one with an empty list (Security:
// []map[string][]string{}) has none. Other operations, health checks for
// instance, are let through without a key and their handlers see no
// principal. Giving the document a requirement naming the scheme makes
// every operation need a key unless it opts out with an empty list, so an
// operation registered without thought is not public. A request is let through when its key is valid and fulfils
// one of the requirements naming these schemes: the key is in the place
// of each of its schemes, and has each scope the requirement lists for
// them. An operation that also allows no authentication (an empty
// requirement, {}) serves a request without a key, with no principal; a
// key it does carry must be valid.
//
// The key is read where each scheme declares it, a header for an apiKey
// scheme, the Authorization header for an http bearer scheme, by the rules
// of the HTTP middleware for its headers. A request carrying two different
// keys in the places of these schemes is refused. Keys with allowed IP
// ranges are checked against the connection's peer address.
//
// Refusals are huma errors (application/problem+json) whose detail is a
// fixed text that never holds the key: 401 with a WWW-Authenticate
// challenge for a missing, malformed, unknown, disabled, expired or too old
// key, 400 for conflicting keys, 403 for a missing scope or a refused
// client address, 402 for spent uses (with Retry-After when they refill),
// 429 with Retry-After and RateLimit-* headers over a rate limit, 503 when the store or the rate limiter
// failed. The handler never runs.
package apikeyhuma

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/go-apikey/apikey"
)

// scheme is where one security scheme carries the key.
type scheme struct {
	header string // the apiKey scheme's header (canonical), or "" for a bearer scheme
}

type middleware struct {
	api       huma.API
	keys      *apikey.Manager
	schemes   map[string]scheme
	reads     map[string]bool // the canonical names of the headers the schemes read
	challenge string
}

// Middleware returns huma middleware verifying keys with keys for the
// operations of api whose security requirements name one of schemes, each
// the name of a security scheme in api's OpenAPI components: an apiKey
// scheme in a header, or an http bearer scheme. Add it with
// api.UseMiddleware before registering operations, since huma gives an
// operation the middleware the API has when it is registered. It panics if
// a scheme is not declared or is of another kind (a key in a query or a
// cookie ends up in logs).
func Middleware(api huma.API, keys *apikey.Manager, schemes ...string) func(ctx huma.Context, next func(huma.Context)) {
	if api == nil || keys == nil || len(schemes) == 0 {
		panic("apikeyhuma: Middleware needs an API, a Manager and at least one security scheme")
	}
	m := &middleware{api: api, keys: keys, schemes: map[string]scheme{}, reads: map[string]bool{}, challenge: `ApiKey realm="api"`}
	var declared map[string]*huma.SecurityScheme
	if c := api.OpenAPI().Components; c != nil {
		declared = c.SecuritySchemes
	}
	for i := len(schemes) - 1; i >= 0; i-- { // the first bearer scheme names the challenge
		name := schemes[i]
		s := declared[name]
		switch {
		case s == nil:
			panic(fmt.Sprintf("apikeyhuma: security scheme %q is not declared in the API's components", name))
		case s.Type == "apiKey" && s.In == "header" && s.Name != "":
			h := http.CanonicalHeaderKey(s.Name)
			m.schemes[name] = scheme{header: h}
			m.reads[h] = true
		case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
			m.schemes[name] = scheme{}
			m.reads["Authorization"] = true
			m.challenge = `Bearer realm="api"`
		default:
			panic(fmt.Sprintf("apikeyhuma: security scheme %q is neither an apiKey scheme in a header nor an http bearer scheme", name))
		}
	}
	return m.serve
}

func (m *middleware) serve(ctx huma.Context, next func(huma.Context)) {
	reqs := ctx.Operation().Security
	if reqs == nil {
		reqs = m.api.OpenAPI().Security
	}
	ours, anonymous := false, false
	for _, req := range reqs {
		anonymous = anonymous || len(req) == 0
		for name := range req {
			_, ok := m.schemes[name]
			ours = ours || ok
		}
	}
	if !ours {
		next(ctx)
		return
	}
	key, found, err := m.key(ctx)
	var placed []map[string][]string
	if err == nil {
		// A key only in the place of a scheme this operation does not
		// name is no key for it.
		if placed = m.placedIn(reqs, found); len(placed) == 0 {
			err = apikey.ErrMissingKey
		}
	}
	switch {
	case errors.Is(err, apikey.ErrMissingKey) && anonymous:
		next(ctx)
		return
	case err != nil:
		m.refuse(ctx, err)
		return
	}
	p, st, err := m.keys.VerifyWithStatus(ctx.Context(), key, peerAddr(ctx.RemoteAddr()))
	if err != nil {
		m.refuse(ctx, err)
		return
	}
	if st.Limit > 0 {
		// The RateLimit headers of an allowed request, as the core
		// middleware sends them.
		h := http.Header{}
		apikey.SetRateLimitHeaders(h, st)
		for name, v := range h {
			ctx.SetHeader(name, v[0])
		}
	}
	if err := m.scopes(placed, p); err != nil {
		m.refuse(ctx, err)
		return
	}
	next(huma.WithContext(ctx, apikey.NewContext(ctx.Context(), p)))
}

// key returns the one key in the places of all the schemes, and the names
// of the schemes whose place holds it.
func (m *middleware) key(ctx huma.Context) (string, map[string]bool, error) {
	read := map[string][]string{} // canonical header name -> values
	ctx.EachHeader(func(name, value string) {
		if name = http.CanonicalHeaderKey(name); m.reads[name] {
			read[name] = append(read[name], value)
		}
	})
	var values, auth []string
	for _, s := range m.schemes {
		if s.header != "" {
			values = append(values, read[s.header]...)
		} else {
			auth = read["Authorization"]
		}
	}
	key, err := apikey.OneKey(values, auth, "Bearer")
	if err != nil {
		return "", nil, err
	}
	found := map[string]bool{}
	for name, s := range m.schemes {
		if s.header != "" {
			_, err = apikey.OneKey(read[s.header], nil)
		} else {
			_, err = apikey.OneKey(nil, auth, "Bearer")
		}
		found[name] = err == nil
	}
	return key, found, nil
}

// placedIn returns the requirements among reqs that name these schemes
// and whose every such scheme has the key in its place.
func (m *middleware) placedIn(reqs []map[string][]string, found map[string]bool) []map[string][]string {
	var placed []map[string][]string
	for _, req := range reqs {
		mine, ok := false, true
		for name := range req {
			if _, ours := m.schemes[name]; ours {
				mine, ok = true, ok && found[name]
			}
		}
		if mine && ok {
			placed = append(placed, req)
		}
	}
	return placed
}

// scopes returns nil when p has every scope that one of reqs lists for
// these schemes, and ErrInsufficientScope otherwise.
func (m *middleware) scopes(reqs []map[string][]string, p apikey.Principal) error {
	var lacks []string
	for _, req := range reqs {
		lacks = lacks[:0]
		for name, scopes := range req {
			if _, ours := m.schemes[name]; !ours {
				continue
			}
			for _, s := range scopes {
				if !p.HasScope(s) {
					lacks = append(lacks, s)
				}
			}
		}
		if len(lacks) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: %q required", apikey.ErrInsufficientScope, lacks)
}

// refuse answers a refused request: the challenge or rate-limit headers
// its status needs, then huma's error with the fixed message.
func (m *middleware) refuse(ctx huma.Context, err error) {
	h := http.Header{}
	apikey.SetRefusalHeaders(h, err, m.challenge)
	for name, v := range h {
		ctx.SetHeader(name, v[0])
	}
	_ = huma.WriteErr(m.api, ctx, apikey.StatusCode(err), apikey.Message(err))
}

// peerAddr returns the IP address in a RemoteAddr ("ip:port"), or the
// zero Addr when it holds none.
func peerAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(s)
	return a
}
