package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsNewUser starts the example as `go run ./examples/admin` would,
// then runs every curl line it printed, in order, and opens the page.
func TestAsNewUser(t *testing.T) {
	out := exampletest.Start(t, run, "curl -X DELETE")
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 7, out)

	status, body := exampletest.Do(t, lines[0])
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "Hello, ops!")

	status, body = exampletest.Do(t, lines[1])
	require.Equal(t, http.StatusOK, status, body)
	var list struct {
		Keys []struct{ Name, Owner string }
		Next string
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Keys, 2)
	assert.Equal(t, "admin", list.Keys[0].Name)
	assert.Equal(t, "demo", list.Keys[1].Name)
	assert.NotContains(t, body, "plaintext")

	status, body = exampletest.Do(t, lines[2])
	require.Equal(t, http.StatusCreated, status, body)
	var created struct {
		Plaintext string
		Key       struct{ Owner, Name, ExpiresAt string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	assert.Equal(t, "alice", created.Key.Owner)
	// The key made over HTTP works on the protected route.
	base := strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1]
	status, body = exampletest.Do(t, "curl -H 'X-API-Key: "+created.Plaintext+"' "+base)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Hello, alice!")

	status, body = exampletest.Do(t, lines[3])
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"name":"demo"`)

	status, body = exampletest.Do(t, lines[4])
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"name":"demo (renamed)"`)
	assert.Contains(t, body, `"scopes":["bots:read","bots:write"]`)

	status, body = exampletest.Do(t, lines[5])
	assert.Equal(t, http.StatusCreated, status, body)
	assert.Contains(t, body, `"plaintext":"ak_`)

	status, body = exampletest.Do(t, lines[6])
	assert.Equal(t, http.StatusNoContent, status, body)
	status, _ = exampletest.Do(t, lines[6])
	assert.Equal(t, http.StatusNotFound, status, "revoked already")

	// The page needs no key; the API does.
	page := strings.Fields(strings.SplitAfter(out, "Admin page: ")[1])[0]
	status, body = exampletest.Do(t, "curl "+page)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "<title>API keys</title>")
	status, body = exampletest.Do(t, "curl "+page+"keys")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.JSONEq(t, `{"code":-1,"msg":"Missing API key"}`, body)
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
