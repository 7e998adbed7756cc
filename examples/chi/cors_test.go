package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

const origin = "https://app.example"

// preflight is what a browser sends before a cross-origin request that
// carries a key: OPTIONS, without the key.
func preflight(path, method string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, path, nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", "x-api-key")
	return r
}

func serveCORS(t *testing.T) (http.Handler, string) {
	t.Helper()
	keys := apikey.New(apikey.NewMemoryStore())
	t.Cleanup(func() { keys.Close() })
	plain, _, err := keys.Create(t.Context(), apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
	require.NoError(t, err)
	return newRouter(keys, newCORS(origin)), plain
}

// A browser-style preflight to any route is answered 200 with the CORS
// headers, never 401, and an allowed page then reads the answers: a 200
// with a key, and a 401 without one, with the header that says why.
func TestCORS(t *testing.T) {
	h, key := serveCORS(t)
	for _, tt := range []struct{ path, method string }{
		{"/", http.MethodGet}, {"/api/v1/platform/bots", http.MethodGet}, {"/api/v1/platform/bots", http.MethodPost},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, preflight(tt.path, tt.method))
		assert.Equal(t, http.StatusOK, w.Code, "%s %s: %s", tt.method, tt.path, w.Body)
		assert.Equal(t, origin, w.Header().Get("Access-Control-Allow-Origin"), tt.path)
		assert.Equal(t, tt.method, w.Header().Get("Access-Control-Allow-Methods"), tt.path)
		assert.Equal(t, "X-Api-Key", w.Header().Get("Access-Control-Allow-Headers"), tt.path)
		assert.Empty(t, w.Header().Get("WWW-Authenticate"), "no challenge")
	}

	get := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/platform/bots", nil)
		r.Header.Set("Origin", origin)
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get(key)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, origin, w.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, w.Body.String(), `"owner":"alice"`)
	w = get("")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, origin, w.Header().Get("Access-Control-Allow-Origin"), "the page may read why it was refused")
	assert.Contains(t, w.Header().Get("Access-Control-Expose-Headers"), "Www-Authenticate")
}

// Other origins get no CORS headers, so browsers keep their pages out; a
// preflight is still not challenged.
func TestCORSOtherOrigin(t *testing.T) {
	h, key := serveCORS(t)
	r := preflight("/", http.MethodGet)
	r.Header.Set("Origin", "https://evil.example")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))

	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Origin", "https://evil.example")
	r.Header.Set("X-API-Key", key)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Empty(t, w.Header().Get("Access-Control-Allow-Origin"))
}

// The key middleware on its own hands preflights to the CORS handler
// (WithPreflight): where it runs before CORS, a preflight is still
// answered as CORS answers it, and reaches no route.
func TestProtectAnswersPreflights(t *testing.T) {
	keys := apikey.New(apikey.NewMemoryStore())
	t.Cleanup(func() { keys.Close() })
	reached := false
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })
	h := protect(keys, newCORS(origin))(route)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, preflight("/api/v1/platform/bots", http.MethodPost))
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, origin, w.Header().Get("Access-Control-Allow-Origin"))
	assert.False(t, reached, "a preflight reaches no route")

	// A bare OPTIONS is no preflight: it needs a key like any request.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, "/", strings.NewReader("")))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.False(t, reached)
}
