package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsNewUser starts the example as `go run ./examples/chi` would, then
// runs every curl line it printed.
func TestAsNewUser(t *testing.T) {
	out := exampletest.Start(t, run, "demo_wrong")
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 8, out)

	// The four sources each answer 200 with the demo key's principal.
	for _, line := range lines[:4] {
		status, body := exampletest.Do(t, line)
		assert.Equal(t, http.StatusOK, status, line)
		assert.Contains(t, body, `"owner":"alice"`, line)
	}
	status, body := exampletest.Do(t, lines[4])
	assert.Equal(t, http.StatusOK, status, "scoped route: %s", body)
	assert.Contains(t, body, "summariser")

	status, body = exampletest.Do(t, lines[5])
	assert.Equal(t, http.StatusForbidden, status)
	assert.JSONEq(t, `{"code":-1,"msg":"Insufficient scope"}`, body)

	status, body = exampletest.Do(t, lines[6])
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.JSONEq(t, `{"code":-1,"msg":"Invalid API key"}`, body)

	// The preflight a browser sends first, without the key.
	req, err := exampletest.Curl(lines[7])
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a preflight is not challenged")
	assert.Equal(t, defaultOrigin, resp.Header.Get("Access-Control-Allow-Origin"))

	// A key one character off is refused too, and so is no key.
	key := strings.Fields(strings.SplitAfter(out, "hash):\n")[1])[0]
	last := "x"
	if strings.HasSuffix(key, last) {
		last = "y" // never the key itself
	}
	tampered := strings.Replace(lines[0], key, key[:len(key)-1]+last, 1)
	status, _ = exampletest.Do(t, tampered)
	assert.Equal(t, http.StatusUnauthorized, status)
	base := strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1]
	status, _ = exampletest.Do(t, "curl "+base)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = exampletest.Do(t, "curl "+strings.TrimSuffix(base, "/")+"/healthz")
	assert.Equal(t, http.StatusNoContent, status, "health checks need no key")
}

// TestNoPrincipalIsRefused: a request that reaches a handler with no verified
// key (its route skipped by mistake, or mounted outside the middleware)
// is refused, not served as an empty principal.
func TestNoPrincipalIsRefused(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"whoami": whoami, "listBots": listBots} {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.JSONEq(t, `{"code":-1,"msg":"Missing API key"}`, w.Body.String(), name)
	}
}
