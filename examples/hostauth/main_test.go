package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// countingStore counts the lookups that reach the key store.
type countingStore struct {
	*apikey.MemoryStore
	finds atomic.Int64
}

func (s *countingStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	s.finds.Add(1)
	return s.MemoryStore.FindByDigest(ctx, d)
}

// Every kind of caller on the same route, through a real server: a key,
// a session, a JWT; and the refusals.
func TestCallers(t *testing.T) {
	store := &countingStore{MemoryStore: apikey.NewMemoryStore()}
	keys := apikey.New(store)
	defer keys.Close()
	key, _, err := keys.Create(context.Background(), apikey.NewKey{Owner: "ci", Scopes: []string{"bots:read"}})
	require.NoError(t, err)
	secret := []byte("test secret")
	srv := httptest.NewServer(newService(keys, secret).handler())
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}

	call := func(method, path string, headers ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const bots = "/api/v1/platform/bots"

	status, body := call("GET", bots, "X-API-Key", key)
	assert.Equal(t, 200, status, body)
	assert.Equal(t, "bots of ci (signed in with: key)\n", body)
	status, _ = call("POST", bots, "X-API-Key", key)
	assert.Equal(t, 403, status, "the key lacks bots:write")

	status, body = call("GET", bots)
	assert.Equal(t, 401, status, "not signed in, no key")
	assert.Contains(t, body, "Missing API key")

	resp, err := client.PostForm(srv.URL+"/login", url.Values{"user": {"carol"}, "password": {"correct horse"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	finds := store.finds.Load()
	status, body = call("GET", bots)
	assert.Equal(t, 200, status, body)
	assert.Equal(t, "bots of carol (signed in with: host)\n", body)
	status, _ = call("POST", bots)
	assert.Equal(t, 200, status, "carol has bots:write")

	status, tok := call("POST", "/token")
	require.Equal(t, 200, status)
	tok = strings.TrimSpace(tok)
	jar2, _ := cookiejar.New(nil)
	client.Jar = jar2 // no session: the JWT alone
	status, body = call("GET", bots, "Authorization", "Bearer "+tok)
	assert.Equal(t, 200, status, body)
	assert.Equal(t, "bots of carol (signed in with: host)\n", body)
	assert.Equal(t, finds, store.finds.Load(), "a session or a JWT costs no key lookup")

	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "carol", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}).SignedString([]byte("another secret"))
	require.NoError(t, err)
	status, body = call("GET", bots, "Authorization", "Bearer "+forged)
	assert.Equal(t, 401, status, "a forged JWT")
	assert.Contains(t, body, "Invalid credentials")
	status, _ = call("GET", bots, "Authorization", "Bearer "+tok, "X-API-Key", key)
	assert.Equal(t, 400, status, "a key and a JWT at once")
	mistyped := testkit.ChangeLast(key)
	status, body = call("GET", bots, "Authorization", "Bearer "+mistyped)
	assert.Equal(t, 401, status, "a mistyped key is judged as a key, not a JWT")
	assert.Contains(t, body, "Invalid API key")
}

// The example starts and prints a working key line.
func TestPrintsHowToCall(t *testing.T) {
	out := exampletest.Start(t, run, "JWT")
	assert.Contains(t, out, "curl -H 'X-API-Key: ak_")
}
