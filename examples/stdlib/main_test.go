package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsNewUser starts the example as `go run ./examples/stdlib` would,
// then runs every curl line it printed.
func TestAsNewUser(t *testing.T) {
	out := exampletest.Start(t, run, "401: no key")
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 7, out)
	want := []int{200, 200, 200, 200, 200, 403, 401}
	for i, line := range lines {
		status, body := exampletest.Do(t, line)
		assert.Equal(t, want[i], status, "%s\n%s", line, body)
		if i < 4 {
			assert.Contains(t, body, "Hello, alice!")
		}
	}
	req, err := exampletest.Curl(lines[0])
	require.NoError(t, err)
	req.Header.Set("X-API-Key", "ak_wrong")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
}

// TestNoPrincipalIsRefused: a request that reaches the greeting with no verified
// key (its route skipped by mistake, or mounted outside the middleware)
// is refused, not served as an empty principal.
func TestNoPrincipalIsRefused(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"hello": hello} {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.JSONEq(t, `{"code":-1,"msg":"Missing API key"}`, w.Body.String(), name)
	}
}
