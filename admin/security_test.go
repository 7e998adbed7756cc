package admin_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const wantCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// TestPage: the page and its assets need no key and carry the security
// headers; the HTML has nothing the CSP would block.
func TestPage(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, ctype, has string }{
		{"/admin/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`},
		{"/admin/app.js", "text/javascript; charset=utf-8", `"X-API-Key": apiKey`},
		{"/admin/app.css", "text/css; charset=utf-8", "@media (max-width:"},
	} {
		r := e.Do("GET", c.path, "", "")
		require.Equal(t, 200, r.Status, c.path)
		assert.Equal(t, c.ctype, r.Header.Get("Content-Type"), c.path)
		assert.Equal(t, wantCSP, r.Header.Get("Content-Security-Policy"), c.path)
		assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"), c.path)
		assert.Equal(t, "no-referrer", r.Header.Get("Referrer-Policy"), c.path)
		assert.Equal(t, "DENY", r.Header.Get("X-Frame-Options"), c.path)
		assert.Contains(t, r.Body, c.has, c.path)
		head := e.Do("HEAD", c.path, "", "")
		assert.Equal(t, 200, head.Status)
		assert.Empty(t, head.Body)
	}
	html := e.Do("GET", "/admin/", "", "").Body
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`),     // inline script
		regexp.MustCompile(`(?i)\sstyle\s*=`),              // inline style attribute
		regexp.MustCompile(`(?i)<style`),                   // style element
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),           // event handler attribute
		regexp.MustCompile(`(?i)(src|href)="(https?:)?//`), // anything remote
		regexp.MustCompile(`(?i)javascript:`),
	} {
		assert.NotRegexp(t, bad, html)
	}
	js := e.Do("GET", "/admin/app.js", "", "").Body
	for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "http://", "https://"} {
		assert.NotContains(t, js, bad)
	}
	// The page takes no other method, and that answer is JSON.
	r := e.Do("POST", "/admin/", "", `{}`)
	assert.Equal(t, 405, r.Status)
	assert.Equal(t, "Method not allowed", r.Msg(t))
}

// TestHostWrapsEverything: a host that puts one key middleware around all
// its routes lets the page through with Public, and the API stays closed.
func TestHostWrapsEverything(t *testing.T) {
	store := newRecordingStore()
	keys := apikey.New(store, apikey.WithStaticKeys(apikey.StaticKey{
		Key: adminKey, ID: "static:admin", Owner: "root", Scopes: []string{apikey.AdminScope},
	}))
	defer keys.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") })
	srv := httptest.NewServer(watch(t, store, keys.Middleware(apikey.WithSkip(admin.Public("/admin")))(mux)))
	defer srv.Close()

	get := func(method, path, key string) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for path, want := range map[string]int{
		"/admin/": 200, "/admin/app.js": 200, "/admin/app.css": 200,
		"/admin/keys": 401, "/admin/keys/x": 401, "/admin/app.jsx": 401, "/adminx/": 401, "/": 401, "/app.js": 401,
	} {
		assert.Equal(t, want, get("GET", path, ""), path)
	}
	assert.Equal(t, 401, get("POST", "/admin/", ""), "only GET and HEAD are public")
	assert.Equal(t, 200, get("GET", "/admin/keys", adminKey))
	assert.Equal(t, 200, get("GET", "/", adminKey))

	// Public with a trailing slash in the prefix means the same.
	req := httptest.NewRequest("GET", "/ui/app.css", nil)
	assert.True(t, admin.Public("/ui/")(req))
	// The mount point without its slash needs a key: a ServeMux with a
	// "/{account}" route would give it to that route, not redirect it.
	assert.False(t, admin.Public("/ui")(httptest.NewRequest("GET", "/ui", nil)))
	assert.False(t, admin.Public("/ui")(httptest.NewRequest("POST", "/ui/", nil)))
	assert.False(t, admin.Public("/ui")(httptest.NewRequest("GET", "/uix", nil)))
	assert.False(t, admin.Public("/ui/")(httptest.NewRequest("GET", "/ui/keys", nil)))
}

// TestPrincipalFromHost: a principal the host put on the context (after
// its own login, say) is used as it is, with no key asked for.
func TestPrincipalFromHost(t *testing.T) {
	store := newRecordingStore()
	keys := apikey.New(store)
	defer keys.Close()
	_, mine, err := keys.Create(context.Background(), apikey.NewKey{Owner: "erin"})
	require.NoError(t, err)
	_, theirs, err := keys.Create(context.Background(), apikey.NewKey{Owner: "frank"})
	require.NoError(t, err)
	h := watch(t, store, http.StripPrefix("/admin", admin.New(keys)))
	session := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") == "session=erin" {
			r = r.WithContext(apikey.NewContext(r.Context(), apikey.Principal{Owner: "erin"}))
		}
		h.ServeHTTP(w, r)
	})
	do := func(path, cookie string) int {
		r := httptest.NewRequest("GET", path, nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		session.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, 200, do("/admin/keys/"+mine.ID, "session=erin"))
	assert.Equal(t, 404, do("/admin/keys/"+theirs.ID, "session=erin"))
	assert.Equal(t, 401, do("/admin/keys/"+mine.ID, ""), "no session, no key")
}

// TestWithAuthorize: the host's function decides, for reads (404) and for
// what a create or change would make (403).
func TestWithAuthorize(t *testing.T) {
	sameTeam := func(p apikey.Principal, k apikey.Key) bool {
		team, ok := p.MetadataValue("team")
		return ok && k.Metadata["team"] == team
	}
	e := newEnv(t, admin.WithAuthorize(sameTeam))
	lead, _ := e.Create(apikey.NewKey{Owner: "lead", Metadata: map[string]string{"team": "red"}})
	_, red := e.Create(apikey.NewKey{Owner: "someone", Name: "red-1", Metadata: map[string]string{"team": "red"}})
	_, blue := e.Create(apikey.NewKey{Owner: "other", Name: "blue-1", Metadata: map[string]string{"team": "blue"}})

	assert.Equal(t, 200, e.Do("GET", "/admin/keys/"+red, lead, "").Status)
	assert.Equal(t, 404, e.Do("GET", "/admin/keys/"+blue, lead, "").Status)
	r := e.Do("GET", "/admin/keys", lead, "")
	var l listBody
	r.JSON(t, &l)
	var names []string
	for _, k := range l.Keys {
		names = append(names, k.Name)
	}
	assert.Equal(t, []string{"", "red-1"}, names, "the lead's own key and red-1, of another owner")
	assert.Equal(t, 201, e.Do("POST", "/admin/keys", lead, `{"owner":"newbie","metadata":{"team":"red"}}`).Status)
	assert.Equal(t, 403, e.Do("POST", "/admin/keys", lead, `{"owner":"newbie","metadata":{"team":"blue"}}`).Status)
	assert.Equal(t, 403, e.Do("PATCH", "/admin/keys/"+red, lead, `{"metadata":{"team":"blue"}}`).Status)
	// The static admin key has no team: with this function it manages nothing.
	assert.Equal(t, 404, e.Do("GET", "/admin/keys/"+red, adminKey, "").Status)
}

// TestRevokedKeyStopsWorking goes through the whole life of a key made
// over the API, calling the host's route with it.
func TestRevokedKeyStopsWorking(t *testing.T) {
	e := newEnv(t)
	r := e.Do("POST", "/admin/keys", adminKey, `{"name":"ci","owner":"alice"}`)
	require.Equal(t, 201, r.Status)
	var s secretBody
	r.JSON(t, &s)
	call := func() int { return e.Do("GET", "/", s.Plaintext, "").Status }
	assert.Equal(t, 200, call())
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+s.Key.ID, adminKey, `{"enabled":false}`).Status)
	assert.Equal(t, 401, call())
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+s.Key.ID, adminKey, `{"enabled":true}`).Status)
	assert.Equal(t, 200, call())
	assert.Equal(t, 204, e.Do("DELETE", "/admin/keys/"+s.Key.ID, adminKey, "").Status)
	assert.Equal(t, 401, call())
}

// TestLeakScanner makes sure the check every test runs at its end (see
// admintest.Env.Leaks) would catch a digest or a repeated plaintext.
func TestLeakScanner(t *testing.T) {
	e := &env{T: t, Store: newRecordingStore()}
	e.Keys = apikey.New(e.Store)
	defer e.Keys.Close()
	plain, k, err := e.Keys.Create(context.Background(), apikey.NewKey{Owner: "a"})
	require.NoError(t, err)
	assert.Empty(t, e.Leaks())

	e.Exchanges = []exchange{{Method: "GET", Path: "/admin/keys", Status: 200, Body: `{"x":"` + hex.EncodeToString(k.Digest) + `"}`}}
	assert.Len(t, e.Leaks(), 1, "hex digest")
	e.Exchanges = []exchange{{Method: "GET", Path: "/admin/keys", Status: 200, Body: `{"hash":"sha256"}`}}
	assert.Len(t, e.Leaks(), 1, "hash field")
	e.Exchanges = []exchange{
		{Method: "POST", Path: "/admin/keys", Status: 201, Body: `{"plaintext":"` + plain + `"}`},
		{Method: "GET", Path: "/admin/keys", Status: 200, Body: `{"start":"` + plain + `"}`},
	}
	assert.NotEmpty(t, e.Leaks(), "plaintext shown twice")
	e.Exchanges = []exchange{{Method: "POST", Path: "/admin/keys", Status: 201, Body: `{"plaintext":"` + plain + `"}`}}
	assert.Empty(t, e.Leaks(), "once, in the create answer, is fine")
	e.Plains = []string{plain}
	assert.NotEmpty(t, e.Leaks(), "a plaintext made outside the API")
	e.Plains = nil
	e.Exchanges = []exchange{{Method: "GET", Path: "/", Status: 200, Body: strings.ToUpper(hex.EncodeToString(k.Digest))}}
	assert.NotEmpty(t, e.Leaks())
}

// TestMountPointWithoutSlash: /admin answers with a redirect to /admin/,
// whose relative URLs the page needs, also where the router does not.
func TestMountPointWithoutSlash(t *testing.T) {
	store := newRecordingStore()
	keys := apikey.New(store)
	defer keys.Close()
	h := watch(t, store, http.StripPrefix("/admin", admin.New(keys)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin", nil))
	assert.Equal(t, http.StatusMovedPermanently, w.Code)
	assert.Equal(t, "/admin/", w.Header().Get("Location"))
}

// TestPrincipalWithoutOwner: a principal with neither an owner nor
// AdminScope sees nothing, and lists without reading the store.
func TestPrincipalWithoutOwner(t *testing.T) {
	store := newRecordingStore()
	keys := apikey.New(store)
	defer keys.Close()
	_, k, err := keys.Create(context.Background(), apikey.NewKey{Owner: "a"})
	require.NoError(t, err)
	store.Down.Store(true) // any store read would answer 503
	h := watch(t, store, admin.New(keys))
	for path, want := range map[string]int{"/keys": 200, "/keys?owner=a": 200} {
		r := httptest.NewRequest("GET", path, nil)
		r = r.WithContext(apikey.NewContext(r.Context(), apikey.Principal{KeyID: "session"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, want, w.Code, path)
		assert.JSONEq(t, `{"keys":[],"next":""}`, w.Body.String(), path)
	}
	store.Down.Store(false)
	r := httptest.NewRequest("GET", "/keys/"+k.ID, nil)
	r = r.WithContext(apikey.NewContext(r.Context(), apikey.Principal{KeyID: "session"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 404, w.Code)
}
