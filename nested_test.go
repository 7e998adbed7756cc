package apikey_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A nested middleware of the same Manager recognises the key an outer one
// verified however it was found: under an older Hasher, or as a static key,
// so it is counted once against a rate limit of one request.
func TestNestedMiddlewareEveryKind(t *testing.T) {
	store := apikey.NewMemoryStore()
	old := newManager(t, store)
	oneRequest := apikey.RateLimit{Limit: 1, Window: time.Hour}
	underOld, _ := mustCreate(t, old, apikey.NewKey{RateLimit: oneRequest})
	pepper, err := apikey.HMACSHA256("2026", []byte(strings.Repeat("s", apikey.MinSecretLen)))
	require.NoError(t, err)
	static := "static-key-0123456789"
	m := newManager(t, store,
		apikey.WithHashers(pepper, apikey.SHA256()),
		apikey.WithStaticKeys(apikey.StaticKey{Key: static, ID: "static:ops", Owner: "ops", RateLimit: oneRequest}))
	underNew, _ := mustCreate(t, m, apikey.NewKey{Owner: "carol", RateLimit: oneRequest})

	for _, c := range []struct{ name, key, owner string }{
		{"current hasher", underNew, "carol"},
		{"older hasher", underOld, "alice"},
		{"static key", static, "ops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := m.Middleware()(m.Middleware()(whoami))
			w := serve(h, get("/", "X-API-Key", c.key))
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.Equal(t, c.owner, w.Body.String())
			assert.Equal(t, http.StatusTooManyRequests, serve(h, get("/", "X-API-Key", c.key)).Code,
				"the second request is over the limit: the first counted once")
		})
	}
}

// The request context keeps no trace of the key: a handler that prints it,
// or the request after WithStripCredentials, reveals nothing.
func TestContextHoldsNoKey(t *testing.T) {
	static := "static-key-0123456789"
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithStaticKeys(apikey.StaticKey{Key: static, ID: "static:ops", Owner: "ops"}))
	stored, _ := mustCreate(t, m, apikey.NewKey{})
	var printed string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apikey.FromContext(r.Context())
		printed = fmt.Sprintf("%v %+v %#v %v %+v %#v", r.Context(), r.Context(), r.Context(), p, p, p)
	})
	for _, key := range []string{stored, static} {
		for _, opts := range [][]apikey.MiddlewareOption{nil, {apikey.WithStripCredentials()}} {
			require.Equal(t, http.StatusOK, serve(m.Middleware(opts...)(h), get("/", "X-API-Key", key)).Code)
			require.NotEmpty(t, printed)
			assert.NotContains(t, printed, key[len(key)-12:], "the context printed the key")
		}
	}
}
