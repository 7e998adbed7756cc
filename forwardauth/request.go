package forwardauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/go-apikey/apikey"
)

// original returns the client's request as the check request describes
// it: a copy of r with the client's method, path and query, and r's
// headers, which are the client's.
func (h *handler) original(r *http.Request) (*http.Request, error) {
	var method, target, ownQuery string
	if h.cfg.envoy {
		t := r.RequestURI
		if t == "" {
			t = r.URL.RequestURI()
		}
		rest, ok := strings.CutPrefix(t, h.cfg.prefix)
		if !ok || !strings.HasPrefix(rest, "/") {
			return nil, fmt.Errorf("%w: its target does not start with %s/", ErrOriginalRequest, h.cfg.prefix)
		}
		method, target = r.Method, rest
	} else {
		var err error
		if target, err = single(r.Header, h.uriHeader); err != nil {
			return nil, err
		}
		if method, err = single(r.Header, h.methodHeader); err != nil {
			return nil, err
		}
		if len(h.cfg.rules) > 0 && (target == "" || method == "") {
			return nil, fmt.Errorf("%w: the rules need %s and %s", ErrOriginalRequest, h.uriHeader, h.methodHeader)
		}
		ownQuery = r.URL.RawQuery
	}
	o := new(http.Request)
	*o = *r
	u := *r.URL
	if target != "" {
		t, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, fmt.Errorf("%w: its URI does not parse", ErrOriginalRequest)
		}
		u.Path, u.RawPath, u.RawQuery = t.Path, t.RawPath, t.RawQuery
		if u.Path == "" { // an absolute URI without a path: http://host
			u.Path, u.RawPath = "/", ""
		}
	}
	// Both queries are the client's: the same key in both is one key, and
	// two different keys conflict, as anywhere else in a request.
	if ownQuery != "" && target != "" {
		if u.RawQuery == "" {
			u.RawQuery = ownQuery
		} else {
			u.RawQuery = ownQuery + "&" + u.RawQuery
		}
	}
	o.URL = &u
	o.RequestURI = u.RequestURI()
	if method != "" {
		o.Method = method
	}
	return o, nil
}

// single returns the one value of header name, "" when it is missing or
// empty, and ErrOriginalRequest when it is given twice: a gateway that
// added its value beside the client's would leave the choice to whoever
// reads the first.
func single(h http.Header, name string) (string, error) {
	switch vs := h[name]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(vs[0]), nil
	}
	return "", fmt.Errorf("%w: %s is given twice", ErrOriginalRequest, name)
}

// rule is one Require.
type rule struct {
	method string // upper case; "" for any
	path   string // as pathForms gives request paths
	gate   func(http.Handler) http.Handler
}

// matches reports whether the rule applies to a request with method and
// one of the path forms pathForms gives.
func (rl *rule) matches(method string, forms []string) bool {
	if rl.method != "" && !strings.EqualFold(method, rl.method) &&
		!(rl.method == http.MethodGet && strings.EqualFold(method, http.MethodHead)) {
		return false
	}
	for _, p := range forms {
		if rl.path == "/" || p == rl.path || strings.HasPrefix(p, rl.path+"/") {
			return true
		}
	}
	return false
}

// pathForms returns the forms of a decoded request path that rules are
// matched against: the path as each kind of router may resolve it, so that
// a rule covers every spelling one of them would route to its path. Each
// form is cleaned (dot segments resolved, repeated and trailing slashes
// dropped) and lower case, as case-insensitive routers match; one also
// has ';' parameters cut from its segments and '\' read as '/', as
// servlet containers and Windows servers read them; and the path is
// decoded again (twice at most), for servers that decode twice. A request
// matched in more forms than its router reads only needs more scopes.
func pathForms(p string) []string {
	var forms []string
	add := func(s string) {
		s = strings.ToLower(cleanPath(s))
		if !slices.Contains(forms, s) {
			forms = append(forms, s)
		}
	}
	for range 3 {
		add(p)
		add(withoutParams(strings.ReplaceAll(p, `\`, "/")))
		d := unescapeLeniently(p)
		if d == p {
			break
		}
		p = d
	}
	return forms
}

// unescapeLeniently decodes every %XX of p, keeping a '%' that starts no
// escape as it is, as servers that decode a path a second time mostly
// do: url.PathUnescape would refuse the whole path for one such '%' and
// leave the rest of it undecoded.
func unescapeLeniently(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			b = append(b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// withoutParams cuts the ';' parameters from each segment of p:
// "/public/..;x=1/admin" is "/public/../admin".
func withoutParams(p string) string {
	if !strings.Contains(p, ";") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		segs[i], _, _ = strings.Cut(seg, ";")
	}
	return strings.Join(segs, "/")
}

// cleanPath resolves dot segments and drops repeated and trailing slashes.
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

// Require makes the requests whose method is method ("" for any; GET
// covers HEAD too, as Go's and most routers serve HEAD with the GET
// handler) and whose path is p or below it need every one of scopes, as
// apikey.RequireScopes does for a Go route: a key without them is refused
// with 403 (apikey.ErrInsufficientScope). Every rule that matches a
// request applies, so rules only add requirements.
//
// Paths match by whole segments ("/admin" covers "/admin" and
// "/admin/keys", not "/administrator") and in every form some router
// would resolve the request's path to: decoded and cleaned ("/%61dmin",
// "//admin" and "/public/../admin" are "/admin"), in any case ("/ADMIN"),
// without ';' parameters and with '\' as '/' ("/public/..;/admin"), and
// decoded twice ("/%2561dmin"). Methods match in any case. A service that
// takes its method from elsewhere (X-HTTP-Method-Override) needs rules
// without a method.
//
// Rules need the client's method and URI: with rules, a check request
// that lacks either is refused with ErrOriginalRequest. Require panics if
// method is not a method name, p does not start with '/' or a scope is
// invalid (see apikey.CleanScopes).
func Require(method, p string, scopes ...string) Option {
	rl, err := newRule(method, p, scopes)
	if err != nil {
		panic("forwardauth: Require: " + err.Error())
	}
	return func(c *config) { c.rules = append(c.rules, rl) }
}

// ParseRequire reads a rule for Require written "[METHOD ]PATH=SCOPE[,SCOPE…]",
// such as "POST /bots=bots:write" or "/admin=admin", for configuration
// files and command lines. The path ends at the first '='. Its errors
// wrap apikey.ErrInvalidInput and end with the reason, after "rule %q: ".
func ParseRequire(s string) (Option, error) {
	before, list, ok := strings.Cut(s, "=")
	if !ok {
		return nil, fmt.Errorf("%w: rule %q: want [METHOD ]PATH=SCOPE[,SCOPE…]", apikey.ErrInvalidInput, s)
	}
	before = strings.TrimSpace(before)
	method, p, ok := strings.Cut(before, " ")
	if !ok {
		method, p = "", before
	}
	var scopes []string
	for sc := range strings.SplitSeq(list, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			scopes = append(scopes, sc)
		}
	}
	rl, err := newRule(method, strings.TrimSpace(p), scopes)
	if err != nil {
		return nil, fmt.Errorf("%w: rule %q: %s", apikey.ErrInvalidInput, s, err)
	}
	return func(c *config) { c.rules = append(c.rules, rl) }, nil
}

// newRule checks a rule; its errors give the reason alone.
func newRule(method, p string, scopes []string) (rule, error) {
	if method != "" && strings.IndexFunc(method, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return rule{}, fmt.Errorf("%q is not a method", method)
	}
	if !strings.HasPrefix(p, "/") {
		return rule{}, fmt.Errorf("path %q does not start with /", p)
	}
	if len(scopes) == 0 {
		return rule{}, fmt.Errorf("path %s: no scope", p)
	}
	if _, err := apikey.CleanScopes(scopes); err != nil {
		return rule{}, errors.New(strings.TrimPrefix(err.Error(), apikey.ErrInvalidInput.Error()+": "))
	}
	return rule{method: strings.ToUpper(method), path: strings.ToLower(cleanPath(p)), gate: apikey.RequireScopes(scopes...)}, nil
}

// encode percent-encodes s for a header value: letters, digits and
// - . _ ~ : @ / stay, every other byte becomes %XX (see the package
// documentation).
func encode(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; keep(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func keep(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@' || c == '/'
}
