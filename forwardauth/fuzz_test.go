package forwardauth_test

import (
	"context"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/testkit"
)

// Whatever a gateway forwards as the client's URI, method and query, the
// check answers one of its statuses, never panics, and lets a request
// through only with principal headers that are single printable tokens.
// A key without the admin scope is never let through to a path that is
// /admin in its plain decoded, cleaned form.
func FuzzCheck(f *testing.F) {
	for _, seed := range [][3]string{
		{"/bots?x-api-key={key}", "GET", ""},
		{"/admin/keys", "GET", "x-api-key={key}"},
		{"/%61dmin;x/..;/admin", "post", "a=1;x-api-key={key}"},
		{"http://example.com/ADMIN?x-api-key=", "HEAD", "x-api-key=%zz"},
		{"/public/%252e%252e/admin", "GET", "x-api-key={key}&x-api-key={key}"},
		{"*", "OPTIONS", ""},
		{"//example.com/admin", "GET", "x-api-key={key}"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(0), apikey.WithLogger(nil))
	defer m.Close()
	plain, _ := testkit.MustCreate(f, m, apikey.NewKey{Owner: "Zoë, \"Ops\"", Scopes: []string{"bots:read"}})
	h := forwardauth.New(m, forwardauth.Require("", "/admin", "admin"), forwardauth.Require("POST", "/bots", "bots:write"))
	f.Fuzz(func(t *testing.T, uri, method, ownQuery string) {
		uri = strings.ReplaceAll(uri, "{key}", plain)
		ownQuery = strings.ReplaceAll(ownQuery, "{key}", plain)
		r := (&http.Request{
			Method:     "GET",
			URL:        &url.URL{Path: "/auth", RawQuery: ownQuery},
			RequestURI: "/auth?" + ownQuery,
			Header:     http.Header{"X-Forwarded-Uri": {uri}, "X-Forwarded-Method": {method}, "X-Api-Key": {plain}},
			RemoteAddr: "192.0.2.1:1234",
		}).WithContext(context.Background())
		w := testkit.Serve(h, r)
		switch w.Code {
		case 200, 400, 401, 403, 500:
		default:
			t.Fatalf("status %d", w.Code)
		}
		if w.Code != http.StatusOK {
			if w.Header().Get("X-Auth-Owner") != "" {
				t.Fatal("a refusal with a principal")
			}
			return
		}
		for _, n := range []string{"X-Auth-Key-Id", "X-Auth-Owner", "X-Auth-Key-Name", "X-Auth-Scopes"} {
			vs := w.Header().Values(n)
			if len(vs) != 1 {
				t.Fatalf("%s: %q", n, vs)
			}
			for _, c := range []byte(vs[0]) {
				if c <= ' ' || c >= 0x7f || c == '"' || c == ';' {
					t.Fatalf("%s holds %q: %q", n, c, vs[0])
				}
			}
		}
		if u, err := url.ParseRequestURI(uri); err == nil && underAdmin(u.Path) {
			t.Fatalf("%s %q let through without the admin scope", method, uri)
		}
	})
}

// underAdmin reports whether a decoded path is /admin or below it once
// cleaned as net/http's ServeMux cleans paths.
func underAdmin(p string) bool {
	c := path.Clean("/" + p)
	return c == "/admin" || strings.HasPrefix(c, "/admin/")
}
