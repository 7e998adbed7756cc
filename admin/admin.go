// Package admin is a mountable HTTP handler for managing the keys of an
// [apikey.Manager]: a JSON API (list, create, show, change, rotate and
// revoke keys) and a small web page that calls it.
//
// Mount it under any prefix, stripping the prefix:
//
//	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
//
// With chi, use Mount and strip the prefix as well. chi routes on its own
// request context and leaves r.URL.Path whole, so the handler mounted
// without StripPrefix sees "/admin/keys" where it expects "/keys", and
// finds neither the page nor any endpoint (404):
//
//	r.Mount("/admin", http.StripPrefix("/admin", admin.New(keys)))
//
// In a sub-router, strip the whole path of the mount point: inside
// r.Route("/api", ...), r.Mount("/admin", http.StripPrefix("/api/admin",
// admin.New(keys))).
//
// # Authentication
//
// The page (GET / and its two assets, relative to the mount point) holds no
// data and is public: a browser cannot send a key when it navigates to it.
// It asks for a key once, keeps it in a JavaScript variable only, and sends
// it as X-API-Key on its API calls.
//
// Every other path is the API, and needs a principal. When the request
// already carries one (the host verified it with its own middleware, or put
// one there with [apikey.NewContext] after a session login), the handler
// uses it. Otherwise it verifies the request's key itself with the
// Manager's middleware (keys from the X-API-Key header or Authorization:
// Bearer or Token, never from the query string). So the API cannot be left
// open by mounting the handler without middleware, and the page cannot be
// locked away by forgetting anything: mounting it bare is the recommended
// way. A host that wraps all its routes in one key middleware puts
// [ServePage] in front of it, which answers the page's requests itself so
// no router can send them anywhere else, or lets the page's exact paths
// through with [apikey.WithSkip] and [Public]; the API behind it stays
// protected either way. Only "/admin/", "/admin/app.js" and "/admin/app.css"
// spelled exactly so, with no query, are the page: any other spelling
// ("/%61dmin/", "/admin%2Fapp.js", "//admin/", "/ADMIN/") needs a key.
//
// A request that changes anything (POST, PATCH, DELETE) with a key read
// from the URL's query (a host middleware with apikey.FromQuery, say)
// answers 403: a key in a URL is on its way into access logs, proxies and
// browser history, and must not be what issues, changes or revokes keys.
// Reads stay allowed: refusing them would not take the key out of the
// logs, and they answer only the one who sent it.
//
// # Authorization
//
// Which keys a principal may see and change is decided by one function,
// [DefaultAuthorize] unless [WithAuthorize] replaces it: a principal with
// [apikey.AdminScope] manages every key; any other principal manages only
// keys of its own Owner that grant no scope it lacks itself. A key it may
// not manage answers 404 exactly as a missing key does, so nobody learns
// which IDs exist. Creating or changing a key into one the principal may
// not manage (for another owner, or with a scope it lacks) answers 403.
//
// Whatever the function, a principal without AdminScope creates, changes
// and rotates keys only within its own key's bounds, read from its stored
// key at each request: no scope it lacks; no more uses than its key has
// left (a usage-limited key makes only usage-limited keys, and a key on
// its last use makes none); no looser rate limit, in rate (limit per
// window) or in burst (limit), where a key without its own limit has the
// Manager's default and no limit is looser than any; no later expiry (a
// key that expires makes only keys that expire); and, if its key has
// allowed IPs, only ranges inside them. The key as the change would leave
// it is compared whole, so an owner cannot lift its own key's limits
// either; a change that sets none of these (name, description, metadata,
// a disable) is not compared. A refusal answers 403 naming the bound. A
// static key without AdminScope has no stored record to bound by, so it
// may create, rotate or change the bounds of nothing; a principal the
// host put on the context itself, whose key ID names no stored key, is
// the account holder the host vouches for, bounded by its scopes only.
// Its rotations may give at most a day's grace ([WithMaxGrace]), so a
// leaked key rotated by whoever holds it does not outlive the rotation by
// a year. Each bound holds for one key at a time: a key with N uses left
// can make several keys of up to N-1 uses each.
//
// A disable records who made it (Key.DisabledBy): the principal's key, or
// nobody for an operator's (Manager.Disable, the apikey command). A
// principal without AdminScope may enable a key again only when its own
// key, or another key of the same owner without AdminScope, disabled it,
// and the key is within its bounds; a disable by an admin, an operator, a
// static key or a key since revoked answers 403. A disable of a key already disabled leaves the first
// disabler, unless an admin makes it, so no owner can take over an admin's
// disable and then undo it; and an enable made after an admin disabled
// the key again fails (409) rather than undo that.
//
// # The keys a key made
//
// A key created through the API records the key of the principal that
// created it (Key.CreatedBy), and so does the new key of a rotation. The
// descendants of a key are the keys it created or rotated into that way,
// the key its own rotation made (RotatedTo, whoever rotated it), and
// their descendants: whatever the holder of a leaked key may have made
// with it. GET keys/{id}/descendants lists them, and ?cascade=true on a
// disable (PATCH with enabled false) or a revoke (DELETE) disables them
// too, so they can be enabled again only by an admin when an admin
// disabled them. Only keys of the key's own owner are followed: a key
// without AdminScope makes keys of its own owner only, so they are all
// found; the keys an admin key made for other owners are not followed
// (their created_by still names it). A key made by another process
// sharing the store after a disable, while its cache still accepted the
// disabled key (see cache.Store), may be missed: list the
// descendants again after that bound.
//
// # The last admin key
//
// No change takes away the last way for an admin to sign in: disabling,
// revoking, expiring, exhausting or removing AdminScope from the last
// usable admin key (enabled, unexpired, with uses left, not rotated away)
// answers 409, and so does giving it new limits that may lock its holder
// out though it stays enabled: new allowed IPs, a rate limit of its own,
// a named limit tighter than any it had, an earlier expiry, fewer uses, a
// refill that may give fewer or later (lifting a limit is fine), unless
// the Manager has a static key with AdminScope or the
// principal is an admin the host signed in with its own login (no key
// ID). A rotation is not such a change: its new key is an admin key too,
// shown in the same answer. The check reads the store's keys until it
// finds another admin key, and is made again after the change: two admins
// taking away the last two admin keys at the same moment, from one
// process or several, both pass the first check, and whichever finds no
// admin key left the second time undoes its own change and answers 409.
// (Keys the same request disabled by a cascade that are not admin keys
// stay disabled.) GET whoami tells the page which key it is signed in
// with and whether that is the last admin key; the page then offers no
// way to disable or delete it.
//
// # Requests and responses
//
// Bodies are JSON, with snake_case fields; errors have the library's shape,
// {"code":-1,"msg":"..."}. POST and PATCH requests must say Content-Type:
// application/json (415 otherwise), so a cross-site HTML form cannot make
// them, and their bodies are limited to 64 KiB (413). Unknown fields, bad
// scopes, times and durations answer 400 saying what was wrong. A store
// failure answers 503. No response ever holds a key's digest; the
// plaintext key appears once, in the answer to the create or rotate that
// made it.
//
//	GET    keys?after=&limit=&owner=&state=&q=&sort=&order=   list: {"keys":[...],"next":"..."}
//	POST   keys                               create: 201 {"plaintext":"ak_...","key":{...}}
//	GET    keys/{id}                          show: {...}
//	PATCH  keys/{id}                          change: {...}
//	PATCH  keys/{id}?cascade=true             disable with its descendants: {"key":{...},"disabled":[...]}
//	POST   keys/{id}/rotate                   rotate: 201 {"plaintext":"ak_...","key":{...}}
//	DELETE keys/{id}                          revoke: 204
//	DELETE keys/{id}?cascade=true             revoke, disabling its descendants: {"disabled":[...]}
//	GET    keys/{id}/descendants              the keys it made: {"keys":[...],"next":""}
//	GET    keys/{id}/rotations                its rotation chain, oldest first: {"keys":[...],"next":""}
//	GET    whoami                             {"key_id":...,"owner":...,"name":...,"scopes":[...],"admin":true,"last_admin_key":false,"max_grace":null}
//
// A key is shown as an object with id, owner, name, description, scopes,
// metadata, start (its non-secret beginning, such as "ak_4qGZ"), state
// (enabled, disabled, expired or exhausted), enabled, created_at,
// updated_at, expires_at, last_used_at (RFC 3339 times, null for never),
// rate_limit ({"limit":100,"window":"1m0s"} or null), allowed_ips,
// remaining_uses (null for no usage limit), rotated_to (null unless it
// was rotated), created_by (the key that made it, or null) and
// disabled_by (the key whose holder disabled it, or null).
//
// A list reads ?limit= keys (1 to 1000, 50 by default) after the cursor
// ?after=, the next field of the previous page; next is "" on the last
// page. ?owner= keeps one owner's keys, ?state= those in one state, and
// ?q= those whose name, owner, ID or start holds the text, in any case
// (at most 256 bytes; text that looks like an API key answers 400,
// unrepeated: a search is a URL, which ends up in logs). ?sort= orders
// by created (the default: creation, which is ID order), name (in any
// case) or last_used (never used counts as earliest), and ?order= asc
// (the default) or desc: sort=created&order=desc is newest first. Ties
// go by ID.
//
// By creation, oldest or newest first, the store lists in the list's
// order (apikey.ListOptions.Descending): the list reads the store's
// pages from the cursor until its own is full or the store has no more
// keys, so a filtered list (by state or q, or by a WithAuthorize
// function) reads no further than it needs, and its next may lead to an
// empty page. Any other order reads every key the principal may list
// (its own owner's only, without AdminScope; one owner's with ?owner=),
// one store query per 1,000 keys, holding no more than the page in
// memory: a list of 100,000 keys costs 100 queries a page. Its next is
// an opaque cursor (a key's ID for sort=created), and is "" exactly when
// no further key matches. A key renamed or used between two pages of a
// list sorted by name or last_used may move to a page already read.
// Without AdminScope, a list holds the principal's own keys only.
//
// The rotation chain of a key (GET keys/{id}/rotations) is the keys
// rotated, one into the next, into it, the key, and the keys it was
// rotated into, oldest first: it reads the key owner's keys (a rotation
// keeps the owner), and stops at a key revoked since or one the
// principal may not manage. GET whoami's max_grace is the longest
// rotation grace the principal may give (see WithMaxGrace), null for an
// admin.
//
// A create takes name, owner (the principal's own when empty),
// description, scopes, metadata, expires_at (RFC 3339) or ttl (whole
// days, "30d", or a Go duration, "720h"), rate_limit, rate_limits (named
// limits, [{"name":"daily","limit":10000,"window":"1d"}]), allowed_ips
// (addresses or CIDR ranges), max_uses and refill
// ({"amount":100,"interval":"monthly","day":1,"roll_over":false}; without
// max_uses the key starts with the amount). A change (PATCH) takes name,
// description, scopes, metadata, enabled, expires_at, rate_limit,
// rate_limits, allowed_ips, remaining_uses and refill; fields left out do
// not change, and null clears expires_at, rate_limit, remaining_uses and
// refill (no expiry, the Manager's default limit, no usage limit, no
// refill). A rotated key's expires_at ends its grace period: it may come
// earlier, and a later one or null is 409, whoever asks. A key shows what it has spent in all as uses_spent, and its
// refill's refilled_at (the start of the period its uses were last
// refilled for) and next_refill_at (when the next period starts, null
// without a refill). Its remaining_uses and refilled_at are as its next
// request finds them: a refill due since it last spent a use is counted,
// though the store makes it only then, so the state, the uses and the
// refill agree.
//
// # Owners
//
// GET owners lists the owner policies (see [apikey.OwnerPolicy]): every
// one for an admin, the principal's own owner's for anyone else. GET
// owners/{owner} shows one (an owner's keys may read their own; its uses
// read as a key's do), PUT replaces it with rate_limits (each named),
// remaining_uses, refill and max_keys, and DELETE removes it. A PUT
// without remaining_uses keeps the uses the owner has, so a change does
// not give back what its keys spent since the caller read the policy;
// null shares none (with a refill, the policy starts with its amount).
// Only an admin may PUT or DELETE, since
// a policy is the budget the owner's keys spend. {owner} is
// percent-encoded ("alice%2Fteam" for "alice/team"). An owner must have a
// key before it can have a policy (404 otherwise), and a create beyond
// its max_keys answers 409. A rotation takes an optional grace, how
// long the old key keeps working ("24h", "1d"); an expired key, or one
// already rotated, answers 409. PATCH and DELETE take one query
// parameter, cascade (true or false); any other answers 400, since a
// misspelt cascade ignored would leave a leaked key's descendants working.
package admin

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
)

// An Option configures the handler New returns.
type Option func(*handler)

// WithAuthorize replaces DefaultAuthorize: authorize reports whether
// principal p may see and manage key k. It is asked about a stored key
// before the key is shown, listed, changed, rotated or revoked (false: 404,
// or left out of a list), and about the key a create or a change would
// make (false: 403), so it can refuse, say, a scope or an owner. It must be
// quick and safe for concurrent use. It widens nothing the package's other
// rules refuse: a principal without AdminScope still stays within its own
// key's bounds, and no change takes away the last admin key.
//
// Listing with a function other than DefaultAuthorize reads the keys of
// every owner and keeps those it allows, which may read the whole store
// for a principal that sees few keys.
func WithAuthorize(authorize func(p apikey.Principal, k apikey.Key) bool) Option {
	return func(h *handler) {
		h.authorize = authorize
		h.ownKeysOnly = false
	}
}

// WithMiddlewareOptions adds options to the Manager middleware that
// verifies keys on API requests carrying no principal yet. They come after
// the handler's own (header sources only, credentials stripped), so
// [apikey.WithSources] here replaces its sources.
func WithMiddlewareOptions(opts ...apikey.MiddlewareOption) Option {
	return func(h *handler) { h.mwOpts = append(h.mwOpts, opts...) }
}

// WithLogger sets where store failures (answered 503) are logged; the
// default is slog.Default(). Logs never hold a key or a digest.
func WithLogger(l *slog.Logger) Option {
	return func(h *handler) { h.logger = l }
}

// DefaultAuthorize is the authorization New uses unless WithAuthorize
// replaces it. A principal with apikey.AdminScope manages every key. Any
// other principal manages the keys of its own Owner whose scopes it holds
// all of itself: rotating a key hands out a new plaintext with the key's
// scopes, so managing a key is as good as holding it, and a principal must
// not reach a key more powerful than its own. (Its key's limits bound what
// it may create, change or rotate whatever the function; see the package
// documentation.)
func DefaultAuthorize(p apikey.Principal, k apikey.Key) bool {
	if p.HasScope(apikey.AdminScope) {
		return true
	}
	if p.Owner == "" || k.Owner != p.Owner {
		return false
	}
	for _, s := range k.Scopes {
		if !p.HasScope(s) {
			return false
		}
	}
	return true
}

// New returns the admin handler for m's keys: the page at "/" and the API
// under "/keys", relative to where it is mounted. See the package
// documentation for how it authenticates and authorizes. It panics if m is
// nil or an option is invalid.
func New(m *apikey.Manager, opts ...Option) http.Handler {
	if m == nil {
		panic("admin: New called with a nil Manager")
	}
	h := &handler{m: m, authorize: DefaultAuthorize, ownKeysOnly: true, logger: slog.Default(), maxGrace: DefaultMaxGrace}
	for _, opt := range opts {
		opt(h)
	}
	if h.authorize == nil {
		panic("admin: WithAuthorize given a nil function")
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	mw := append([]apikey.MiddlewareOption{
		apikey.WithSources(
			apikey.FromHeader("X-API-Key"),
			apikey.FromAuthorization("Bearer"),
			apikey.FromAuthorization("Token"),
		),
		apikey.WithStripCredentials(),
		apikey.WithRealm("admin"),
	}, h.mwOpts...)
	h.verify = m.Middleware(mw...)(http.HandlerFunc(h.serveAPI))
	return h
}

type handler struct {
	m         *apikey.Manager
	authorize func(apikey.Principal, apikey.Key) bool
	// ownKeysOnly is true while authorize is DefaultAuthorize, which lets
	// a principal without AdminScope list by its own owner instead of
	// reading every key.
	ownKeysOnly bool
	mwOpts      []apikey.MiddlewareOption
	logger      *slog.Logger
	verify      http.Handler // serveAPI behind the Manager's middleware
	// maxGrace bounds the rotation grace of principals without AdminScope
	// (WithMaxGrace).
	maxGrace time.Duration
}

// publicPaths are the page and its assets, relative to the mount point.
var publicPaths = []string{"/", "/app.js", "/app.css"}

// pageAsset returns the asset (one of publicPaths) that r asks for when
// the handler is mounted at prefix, and false for anything else. It takes
// only GET and HEAD, of exactly prefix plus the asset's path as the bytes
// came: no percent-encoding anywhere in the path, no query, no doubled
// slash, dot segment, other case or trailing parameter (";x"). Routers
// disagree about each of those: chi routes on the escaped path, so
// "/%61dmin" is not its "/admin"; ServeMux matches escaped segments, so
// "/admin%2Fapp.js" is one segment for a "/{account}" route, and it gives
// "/admin" itself to such a route before redirecting to "/admin/". Only a
// path spelled the one way every router reads alike is taken for the page.
func pageAsset(r *http.Request, prefix string) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	u := r.URL
	if u == nil || u.Opaque != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.Path, prefix)
	if !ok || !slices.Contains(publicPaths, rest) {
		return "", false
	}
	return rest, true
}

// Public returns a function for apikey.WithSkip that lets through, without
// a key, the GET and HEAD requests for the admin page and its two assets
// when the handler is mounted at prefix (such as "/admin"): exactly
// "/admin/", "/admin/app.js" and "/admin/app.css", spelled byte for byte
// so, with no query. Any other spelling, the mount point without its
// slash included, needs a key like every other request:
//
//	keys.Middleware(apikey.WithSkip(admin.Public("/admin")))
//
// A skip function cannot see where the router will send the request it
// lets through: Public is safe only where the router gives those three
// paths to the admin handler, as http.ServeMux and chi do for a handler
// mounted at prefix on every host. [ServePage] does not depend on that,
// since it answers the page itself, and mounting the handler outside the
// key middleware needs neither. It is needed only when a key middleware
// wraps the admin handler; the API behind it still requires a principal.
func Public(prefix string) func(*http.Request) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return func(r *http.Request) bool {
		_, ok := pageAsset(r, prefix)
		return ok
	}
}

// ServePage returns middleware that answers the requests for the admin
// page and its assets itself, when the handler is mounted at prefix, and
// hands every other request to the next handler. Put it outside the key
// middleware that wraps every route:
//
//	handler := admin.ServePage("/admin")(keys.Middleware()(mux))
//
//	r.Use(admin.ServePage("/admin")) // chi: before the key middleware
//	r.Use(keys.Middleware())
//
// It takes the same requests as [Public], and the mount point without its
// slash ("/admin", exactly), which it redirects to the page. Since those
// requests never reach the router, no router can send them anywhere else,
// whatever its patterns, hosts or path cleaning. Everything else goes on
// to the key middleware, the API under prefix included.
func ServePage(prefix string) func(http.Handler) http.Handler {
	prefix = strings.TrimSuffix(prefix, "/")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if asset, ok := pageAsset(r, prefix); ok {
				servePage(w, r, asset)
				return
			}
			if prefix != "" && r.URL.Path == prefix && r.URL.RawPath == "" && r.URL.RawQuery == "" && !r.URL.ForceQuery &&
				(r.Method == http.MethodGet || r.Method == http.MethodHead) {
				http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ServeHTTP serves the page and its assets to anyone, and the API to
// requests with a principal.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "" {
		// The mount point without its slash ("/admin" stripped of
		// "/admin"): the page's relative URLs need the slash.
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" && !strings.HasPrefix(u.Path, "//") {
			http.Redirect(w, r, u.Path+"/", http.StatusMovedPermanently)
			return
		}
		path = "/"
	}
	if slices.Contains(publicPaths, path) {
		servePage(w, r, path)
		return
	}
	apiHeaders(w.Header())
	if _, ok := apikey.FromContext(r.Context()); ok {
		h.serveAPI(w, r)
		return
	}
	h.verify.ServeHTTP(w, r)
}

// apiHeaders are set on every API response: nothing is cached (a create
// answer holds a plaintext key) or sniffed, framed or rendered as a page.
func apiHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// serveAPI routes an API request with a principal on its context.
func (h *handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		// The middleware refuses a request without a key; this is only
		// reached if an option (such as WithSkip) let one through.
		w.Header().Set("WWW-Authenticate", `Bearer realm="admin"`)
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if src, ok := apikey.SourceFromContext(r.Context()); ok && src.Kind() == apikey.SourceQuery {
			writeError(w, http.StatusForbidden, "Send the API key in the X-API-Key or Authorization header, not in the URL: "+
				"a key in a URL ends up in logs and browser history, so it may not change keys")
			return
		}
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// An owner may hold any character, "/" included: its path segment is
	// read as the client escaped it.
	escaped := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "owners":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.owners(w, r, p)
	case len(escaped) == 2 && escaped[0] == "owners" && escaped[1] != "":
		h.owner(w, r, p, escaped[1])
	case len(parts) == 1 && parts[0] == "whoami":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.whoami(w, r, p)
	case len(parts) == 1 && parts[0] == "keys":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.list(w, r, p)
		case http.MethodPost:
			h.create(w, r, p)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
	case len(parts) == 2 && parts[0] == "keys" && parts[1] != "":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.get(w, r, p, parts[1])
		case http.MethodPatch:
			h.patch(w, r, p, parts[1])
		case http.MethodDelete:
			h.revoke(w, r, p, parts[1])
		default:
			methodNotAllowed(w, "GET, HEAD, PATCH, DELETE")
		}
	case len(parts) == 3 && parts[0] == "keys" && parts[1] != "" && parts[2] == "rotate":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		h.rotate(w, r, p, parts[1])
	case len(parts) == 3 && parts[0] == "keys" && parts[1] != "" && parts[2] == "descendants":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.listDescendants(w, r, p, parts[1])
	case len(parts) == 3 && parts[0] == "keys" && parts[1] != "" && parts[2] == "rotations":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.listRotations(w, r, p, parts[1])
	default:
		writeError(w, http.StatusNotFound, "Not found")
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
}
