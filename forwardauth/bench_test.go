package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/testkit"
)

// BenchmarkCheck measures a check that lets a request through, next to
// the middleware alone in front of a handler that does nothing, on the
// memory store.
func BenchmarkCheck(b *testing.B) {
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLogger(nil))
	defer m.Close()
	plain, _ := testkit.MustCreate(b, m, apikey.NewKey{Owner: "Zoë Ops", Scopes: []string{"bots:read", "bots:write"}})
	run := func(b *testing.B, h http.Handler, headers ...string) {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.Header.Set("X-API-Key", plain)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	}
	fwd := []string{"X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/bots/42?page=2"}
	b.Run("middleware", func(b *testing.B) {
		run(b, m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), fwd...)
	})
	b.Run("check", func(b *testing.B) { run(b, forwardauth.New(m), fwd...) })
	b.Run("check-with-rules", func(b *testing.B) {
		run(b, forwardauth.New(m, forwardauth.Require("", "/admin", "admin"), forwardauth.Require("POST", "/bots", "bots:write")), fwd...)
	})
}
