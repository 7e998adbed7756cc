package forwardauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
)

// A gateway's check, as nginx (configured as in the README), Traefik and
// Caddy send it: the client's headers, and its method and URI in
// X-Forwarded-* headers.
func ExampleNew() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(context.Background(), apikey.NewKey{Owner: "Zoë Ops", Scopes: []string{"bots:read"}})
	if err != nil {
		panic(err)
	}
	check := forwardauth.New(keys, forwardauth.Require("POST", "/bots", "bots:write"))

	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest("GET", "/auth", nil)
		r.Header.Set("X-API-Key", plain)
		r.Header.Set("X-Forwarded-Method", method)
		r.Header.Set("X-Forwarded-Uri", "/bots/42")
		w := httptest.NewRecorder()
		check.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			fmt.Println(method, w.Code, w.Header().Get("X-Auth-Error"))
			continue
		}
		owner, _ := url.PathUnescape(w.Header().Get("X-Auth-Owner"))
		fmt.Println(method, w.Code, w.Header().Get("X-Auth-Owner"), "=", owner)
	}
	// Output:
	// GET 200 Zo%C3%AB%20Ops = Zoë Ops
	// POST 403 Insufficient scope
}

// Envoy's HTTP ext_authz sends the client's request itself, its path behind
// http_service.path_prefix.
func ExampleWithPathPrefix() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(context.Background(), apikey.NewKey{Owner: "alice"})
	if err != nil {
		panic(err)
	}
	check := forwardauth.New(keys, forwardauth.WithPathPrefix("/ext_authz"))

	for _, target := range []string{"/ext_authz/bots?x-api-key=" + plain, "/ext_authz/bots"} {
		w := httptest.NewRecorder()
		check.ServeHTTP(w, httptest.NewRequest("DELETE", target, nil))
		fmt.Printf("%d owner=%q challenge=%q\n", w.Code, w.Header().Get("X-Auth-Owner"), w.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// 200 owner="alice" challenge=""
	// 401 owner="" challenge="Bearer realm=\"api\""
}
