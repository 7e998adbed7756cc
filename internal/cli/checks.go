package cli

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
)

// checkPath is a path serve may answer checks at: segments of URL-safe
// characters, no trailing slash, so that it is the same path however a
// gateway or a router spells it.
var checkPath = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)

// headerName is an HTTP header name (RFC 9110 token).
var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// checkServeFlags refuses serve flags that make no sense together, before
// anything is opened.
func checkServeFlags(o *options) error {
	if !o.admin && !o.checks() {
		return usagef("nothing to serve: --admin=false needs --forward-auth or --ext-authz")
	}
	if !o.checks() && (len(o.trusted) > 0 || len(o.rules.opts) > 0) {
		return usagef("--trusted-proxy and --require go with --forward-auth or --ext-authz")
	}
	if o.set["shape"] {
		if !o.checks() {
			return usagef("--shape goes with --forward-auth or --ext-authz")
		}
		re, err := compileShape(o.shape)
		if err != nil {
			return err
		}
		o.shapeRE = re
	}
	if o.set["uri-header"] && o.forwardAuth == "" {
		return usagef("--uri-header goes with --forward-auth")
	}
	if !headerName.MatchString(o.uriHeader) {
		return usagef("--uri-header %q is not a header name", o.uriHeader)
	}
	for _, f := range []struct{ flag, path string }{{"forward-auth", o.forwardAuth}, {"ext-authz", o.extAuthz}} {
		if f.path == "" {
			continue
		}
		if !checkPath.MatchString(f.path) {
			return usagef("--%s %q: want a path such as /auth: segments of letters, digits and . _ ~ -, no trailing slash", f.flag, f.path)
		}
		if o.admin && (f.path == "/admin" || strings.HasPrefix(f.path, "/admin/")) {
			return usagef("--%s %s is the admin page's; choose another path, or give --admin=false", f.flag, f.path)
		}
	}
	if o.extAuthz != "" && strings.HasPrefix(o.forwardAuth, o.extAuthz+"/") {
		return usagef("--forward-auth %s is under --ext-authz %s, whose checks would answer it", o.forwardAuth, o.extAuthz)
	}
	return nil
}

// serveChecks mounts the gateways' checks beside mux, says where they
// are, and returns the handler to serve. Envoy's checks are dispatched
// before mux, which would redirect a path holding "//" or ".." instead of
// letting the check judge it.
func (e *env) serveChecks(m *apikey.Manager, o *options, base string, mux *http.ServeMux) http.Handler {
	common := append([]forwardauth.Option{
		forwardauth.WithMiddleware(apikey.WithTrustedProxies(o.trusted...)),
	}, o.rules.opts...)
	if !o.admin {
		fmt.Fprintf(e.stdout, "Checking the keys of %s (table %s)\n", dbopen.Redact(dbopen.Setting(o.db, e.getenv)), o.table)
	}
	fmt.Fprintf(e.stdout, "\nGateways check keys at:\n")
	if o.forwardAuth != "" {
		mux.Handle(o.forwardAuth, forwardauth.New(m, append(common, forwardauth.WithURIHeader(o.uriHeader))...))
		fmt.Fprintf(e.stdout, "  %s%s   nginx auth_request, Traefik ForwardAuth, Caddy forward_auth (the client's URI in %s)\n",
			base, o.forwardAuth, o.uriHeader)
	}
	handler := http.Handler(mux)
	if o.extAuthz != "" {
		ext := forwardauth.New(m, append(common, forwardauth.WithPathPrefix(o.extAuthz))...)
		prefix := o.extAuthz + "/"
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.RequestURI, prefix) {
				ext.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
		fmt.Fprintf(e.stdout, "  %s%s   Envoy HTTP ext_authz (http_service.path_prefix: %s)\n", base, o.extAuthz, o.extAuthz)
	}
	for _, r := range o.rules.text {
		fmt.Fprintf(e.stdout, "Rule: %s\n", r)
	}
	if len(o.trusted) == 0 {
		fmt.Fprintf(e.stdout, "No --trusted-proxy: keys with allowed IP ranges are judged by the gateway's address.\n")
	} else {
		fmt.Fprintf(e.stdout, "The client's address is read from X-Forwarded-For sent by %s.\n", o.trusted.String())
	}
	if o.forwardAuth != "" {
		fmt.Fprintf(e.stdout, "Try a check as a gateway sends it:\n  curl -H 'X-API-Key: <a key>' -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /' %s%s\n", base, o.forwardAuth)
	}
	return handler
}
