package adminweb_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trickyPaths are spellings of the admin page's paths that routers and
// path decoders disagree about: percent-encoding (chi routes on the
// escaped path, ServeMux matches escaped segments), doubled slashes and
// dot segments (ServeMux cleans them with a redirect, chi does not), case,
// the mount point without its slash (ServeMux gives it to a /{account}
// route), and parameters after ';'. None of them is the page, and none
// may reach a protected route without a key.
var trickyPaths = []string{
	"/%61dmin", "/adm%69n", "/admin%2f", "/admin%2F", "/admin%2Fapp.js", "/%61dmin/", "/%61dmin/app.js",
	"/admin/app%2Ejs", "/admin/%61pp.js",
	"//admin/", "//admin/app.js", "/admin//app.js", "/admin//",
	"/ADMIN/", "/Admin/app.js", "/admin/APP.JS",
	"/admin/./app.js", "/admin/../x", "/admin/app.js/..", "/./admin/",
	"/admin", "/admin/app.js;x", "/admin;x/", "/admin/app.js/",
	"/admin/keys", "/admin/keys/x",
}

// pagePaths are the page itself.
var pagePaths = []string{"/admin/", "/admin/app.js", "/admin/app.css"}

// routeSetup is one way a host wraps its routes in a key middleware and
// still lets the admin page through.
type routeSetup struct {
	name  string
	build func(keys *apikey.Manager, protected http.Handler) http.Handler
}

var routeSetups = []routeSetup{
	{"chi, WithSkip(Public)", func(keys *apikey.Manager, protected http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Use(keys.Middleware(apikey.WithSkip(admin.Public("/admin"))))
		r.Mount("/admin", http.StripPrefix("/admin", admin.New(keys)))
		r.Handle("/{account}", protected)
		r.Handle("/{account}/*", protected)
		return r
	}},
	{"ServeMux, WithSkip(Public)", func(keys *apikey.Manager, protected http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
		mux.Handle("/{account}", protected)
		mux.Handle("/{account}/{rest...}", protected)
		return keys.Middleware(apikey.WithSkip(admin.Public("/admin")))(mux)
	}},
	{"chi, ServePage", func(keys *apikey.Manager, protected http.Handler) http.Handler {
		r := chi.NewRouter()
		r.Use(admin.ServePage("/admin"))
		r.Use(keys.Middleware())
		r.Mount("/admin", http.StripPrefix("/admin", admin.New(keys)))
		r.Handle("/{account}", protected)
		r.Handle("/{account}/*", protected)
		return r
	}},
	{"ServeMux, ServePage", func(keys *apikey.Manager, protected http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
		mux.Handle("/{account}", protected)
		mux.Handle("/{account}/{rest...}", protected)
		return admin.ServePage("/admin")(keys.Middleware()(mux))
	}},
}

// TestPublicPathsOnRealRouters: behind one key middleware around every
// route, with a catch-all host route, no spelling of a path, with or
// without a query, by GET or HEAD, reaches a protected handler without a
// key; the page's own paths are served, and only by the admin handler.
func TestPublicPathsOnRealRouters(t *testing.T) {
	for _, setup := range routeSetups {
		t.Run(setup.name, func(t *testing.T) {
			store, keys := newKeys(t)
			var reached atomic.Int64
			protected := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := apikey.FromContext(r.Context()); !ok {
					reached.Add(1)
				}
				io.WriteString(w, "protected")
			})
			h := watch(t, store, setup.build(keys, protected))
			var table strings.Builder
			for _, path := range append(append([]string{}, pagePaths...), trickyPaths...) {
				for _, query := range []string{"", "?x=1", "?"} {
					for _, method := range []string{"GET", "HEAD"} {
						before := reached.Load()
						w := httptest.NewRecorder()
						h.ServeHTTP(w, httptest.NewRequest(method, path+query, nil))
						if reached.Load() != before {
							t.Errorf("%s %s%s reached the protected handler without a key (%d)", method, path, query, w.Code)
						}
						assert.NotEqual(t, "protected", w.Body.String(), "%s %s%s", method, path, query)
						if method == "GET" {
							fmt.Fprintf(&table, "%-22s %-3s %d\n", path, query, w.Code)
						}
						if query == "" && isPagePath(path) {
							require.Equal(t, http.StatusOK, w.Code, "%s %s", method, path)
							assert.Contains(t, w.Header().Get("Content-Security-Policy"), "script-src 'self'", path)
						}
					}
				}
			}
			t.Logf("GET statuses:\n%s", table.String())
			// The API behind the page still needs a key, and takes one.
			for _, path := range []string{"/admin/keys", "/admin/keys?x=1"} {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
				assert.Equal(t, http.StatusUnauthorized, w.Code, path)
			}
			r := httptest.NewRequest("GET", "/admin/keys", nil)
			r.Header.Set("X-API-Key", adminKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
		})
	}
}

func isPagePath(path string) bool {
	for _, p := range pagePaths {
		if p == path {
			return true
		}
	}
	return false
}
