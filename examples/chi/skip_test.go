package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/go-apikey/apikey"
)

// /healthz needs no key, and no other spelling of it gets through without
// one. (Found by review: the example skipped the key for a request whose
// decoded path was /healthz, which chi routes on its raw path, so
// /%68ealthz reached a parameter route such as /{account} without a key.
// The example now routes /healthz outside the key middleware instead.)
func TestHealthzIsTheOnlyOpenRoute(t *testing.T) {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	h := newRouter(keys, newCORS(defaultOrigin))
	serve := func(path string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w.Code
	}
	assert.Equal(t, http.StatusNoContent, serve("/healthz"))
	for _, path := range []string{"/%68ealthz", "/healthz/", "/HEALTHZ", "/", "/api/v1/platform/bots", "/api/v1/platform/bots/"} {
		code := serve(path)
		assert.True(t, code == http.StatusUnauthorized || code == http.StatusNotFound, "%s: %d without a key", path, code)
	}
}
