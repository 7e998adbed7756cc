package apikey_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
)

func Example() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("lbk"))
	defer keys.Close()

	plain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Name: "ci", Scopes: []string{"bots:read"}})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.Handle("GET /bots", apikey.RequireScopes("bots:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.FromContext(r.Context())
		if !ok { // no key verified: never serve the route as nobody
			apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
			return
		}
		fmt.Fprintf(w, "bots of %s", p.Owner)
	})))
	handler := keys.Middleware()(mux)

	for _, key := range []string{plain, "lbk_wrong"} {
		r := httptest.NewRequest(http.MethodGet, "/bots", nil)
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 bots of alice
	// 401 {"code":-1,"msg":"Invalid API key"}
}

func ExampleManager_Create() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("sk_live"))
	defer keys.Close()

	plain, key, err := keys.Create(ctx, apikey.NewKey{
		Owner:     "acct_42",
		Name:      "partner backend",
		Scopes:    []string{"orders:read"},
		ExpiresAt: time.Now().Add(90 * 24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	// Show plain to the user now: it is not stored and cannot be shown again.
	fmt.Println(strings.HasPrefix(plain, "sk_live_"), len(plain))
	fmt.Println(key.Owner, key.Name, key.Scopes, key.Enabled)
	fmt.Println(key.Start == plain[:len(key.Start)], len(key.Start))
	// Output:
	// true 44
	// acct_42 partner backend [orders:read] true
	// true 12
}

func ExampleManager_Verify() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, key, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice"})

	p, err := keys.Verify(ctx, plain)
	fmt.Println(p.Owner, err)

	_, _ = keys.Disable(ctx, key.ID)
	_, err = keys.Verify(ctx, plain)
	fmt.Println(errors.Is(err, apikey.ErrKeyDisabled))

	_, err = keys.Verify(ctx, "ak_not-a-key")
	fmt.Println(errors.Is(err, apikey.ErrMalformedKey))
	// Output:
	// alice <nil>
	// true
	// true
}

func ExampleManager_Rotate() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	oldPlain, oldKey, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice", Name: "ci"})

	// The new key works at once; the old one keeps working for a day, so
	// clients can switch without downtime.
	newPlain, newKey, err := keys.Rotate(ctx, oldKey.ID, 24*time.Hour)
	if err != nil {
		panic(err)
	}
	_, errOld := keys.Verify(ctx, oldPlain)
	_, errNew := keys.Verify(ctx, newPlain)
	old, _ := keys.Get(ctx, oldKey.ID)
	fmt.Println(newKey.Name, errOld, errNew, !old.ExpiresAt.IsZero())
	// Output:
	// ci <nil> <nil> true
}

func ExampleManager_Middleware() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()

	protect := keys.Middleware(
		// Headers only: query strings end up in access logs.
		apikey.WithSources(apikey.FromHeader("X-API-Key"), apikey.FromAuthorization("Bearer")),
		// Health checks need no key. The skip compares the path as the
		// client sent it: routers such as chi route on that, and a
		// decoded r.URL.Path would also match /%68ealthz.
		apikey.WithSkip(func(r *http.Request) bool { return r.URL.EscapedPath() == "/healthz" }),
		// Handlers behind this never see the key.
		apikey.WithStripCredentials(),
	)
	handler := protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))

	for _, path := range []string{"/healthz", "/orders", "/%68ealthz"} {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Printf("%s %d %q\n", path, w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// /healthz 200 ""
	// /orders 401 "Bearer realm=\"api\""
	// /%68ealthz 401 "Bearer realm=\"api\""
}

func ExampleWithErrorHandler() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()

	// Log why a request failed (never the key itself), answer in your own
	// format.
	handler := keys.Middleware(apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		fmt.Println("refused:", err)
		http.Error(w, apikey.Message(err), apikey.StatusCode(err))
	}))(http.NotFoundHandler())

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-API-Key", "ak_0000")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// refused: apikey: malformed API key
	// 401 Invalid API key
}

func ExampleRequireScopes() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	reader, _, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})

	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET /bots", apikey.RequireScopes("bots:read")(ok))
	mux.Handle("DELETE /bots", apikey.RequireScopes("bots:write")(ok))
	handler := keys.Middleware()(mux)

	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		r := httptest.NewRequest(method, "/bots", nil)
		r.Header.Set("X-API-Key", reader)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(method, w.Code)
	}
	// Output:
	// GET 200
	// DELETE 403
}

func ExampleFromContext() {
	handler := func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.FromContext(r.Context())
		if !ok {
			http.Error(w, "no API key", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "hello %s (key %s)", p.Owner, p.KeyID)
	}

	// In tests, NewContext stands in for the middleware.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(apikey.NewContext(r.Context(), apikey.Principal{KeyID: "01ABC", Owner: "alice"}))
	w := httptest.NewRecorder()
	handler(w, r)
	fmt.Println(w.Body.String())
	// Output:
	// hello alice (key 01ABC)
}

func ExampleWithHashers() {
	ctx := context.Background()
	store := apikey.NewMemoryStore()

	// Keys created before the server secret existed use plain SHA-256.
	before := apikey.New(store)
	oldKey, _, _ := before.Create(ctx, apikey.NewKey{Owner: "alice"})
	_ = before.Close()

	// Load the secret from your secret manager; 32 random bytes here.
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	pepper, err := apikey.HMACSHA256("2026-11", secret)
	if err != nil {
		panic(err)
	}
	keys := apikey.New(store, apikey.WithHashers(pepper, apikey.SHA256()))
	defer keys.Close()
	newKey, record, _ := keys.Create(ctx, apikey.NewKey{Owner: "bob"})

	p1, err1 := keys.Verify(ctx, oldKey)
	p2, err2 := keys.Verify(ctx, newKey)
	fmt.Println(record.Hash)
	fmt.Println(p1.Owner, err1, p2.Owner, err2)
	// Output:
	// hmac-sha256:2026-11
	// alice <nil> bob <nil>
}

func ExampleParseKey() {
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("lbk"))
	defer keys.Close()
	plain, _, _ := keys.Create(context.Background(), apikey.NewKey{Owner: "alice"})

	prefix, err := apikey.ParseKey(plain)
	fmt.Println(prefix, err)

	// A typo breaks the checksum: refused without any lookup.
	typo := plain[:10] + "x" + plain[11:]
	if typo == plain {
		typo = plain[:10] + "y" + plain[11:]
	}
	_, err = apikey.ParseKey(typo)
	fmt.Println(err)
	// Output:
	// lbk <nil>
	// apikey: malformed API key
}

func ExampleWithPreflight() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	// Browsers send CORS preflights without credentials: let your CORS
	// handler answer them, and keep them away from the protected routes.
	cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
		w.Header().Set("Access-Control-Allow-Headers", "X-API-Key")
		w.WriteHeader(http.StatusNoContent)
	})
	handler := keys.Middleware(apikey.WithPreflight(cors))(http.NotFoundHandler())

	r := httptest.NewRequest(http.MethodOptions, "/orders", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	// Output:
	// 204 https://app.example
}

func ExampleWithStaticKeys() {
	env := map[string]string{"ADMIN_API_KEY": "change-me-0123456789abcdef"}
	static, err := apikey.StaticKeysFromEnv(func(name string) string { return env[name] })
	if err != nil {
		panic(err) // names the variable, never the key
	}
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithStaticKeys(static...))
	defer keys.Close()

	p, err := keys.Verify(context.Background(), "change-me-0123456789abcdef")
	fmt.Println(p.KeyID, p.Owner, p.HasScope(apikey.AdminScope), err)
	// Output:
	// static:admin admin true <nil>
}

func ExampleManager_Update() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	_, key, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice", Name: "ci", Scopes: []string{"bots:read"}})

	key, err := keys.Update(ctx, key.ID,
		apikey.SetName("ci (nightly)"),
		apikey.SetScopes("bots:read", "bots:write"),
		apikey.SetRateLimit(apikey.RateLimit{Limit: 100, Window: time.Minute}),
		apikey.SetAllowedIPs(netip.MustParsePrefix("192.0.2.0/24")),
	)
	fmt.Println(key.Name, key.Scopes, key.RateLimit.Limit, key.AllowedIPs, err)

	_, err = keys.Update(ctx, key.ID, apikey.SetScopes("not valid"))
	fmt.Println(errors.Is(err, apikey.ErrInvalidInput))
	// Output:
	// ci (nightly) [bots:read bots:write] 100 [192.0.2.0/24] <nil>
	// true
}

func ExampleWithDefaultRateLimit() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithDefaultRateLimit(2, time.Minute))
	defer keys.Close()
	plain, _, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice"})
	handler := keys.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", plain)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("RateLimit-Remaining"), w.Header().Get("Retry-After") != "")
	}
	// Output:
	// 200 1 false
	// 200 0 false
	// 429 0 true
}

func ExampleWithTrustedProxies() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	office, _, _ := keys.Create(ctx, apikey.NewKey{Owner: "alice", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
	// The load balancer at 10.0.0.0/8 says who the client is; nobody else
	// is believed.
	handler := keys.Middleware(apikey.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8")))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	for _, peer := range []string{"10.1.2.3:80", "198.51.100.7:4000"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", "203.0.113.50")
		r.Header.Set("X-API-Key", office)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(peer, w.Code)
	}
	// Output:
	// 10.1.2.3:80 200
	// 198.51.100.7:4000 403
}
