package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
)

func ExampleNew() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	adminKey, _, _ := keys.Create(ctx, apikey.NewKey{Owner: "ops", Scopes: []string{apikey.AdminScope}})

	mux := http.NewServeMux()
	// Mounted bare: the page is public, the API verifies keys itself.
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
	mux.Handle("/", keys.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the service")
	})))

	send := func(method, path, key, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w
	}
	fmt.Println("page:", send("GET", "/admin/", "", "").Code)
	fmt.Println("API without a key:", send("GET", "/admin/keys", "", "").Code)
	created := send("POST", "/admin/keys", adminKey, `{"name":"ci","owner":"alice","scopes":["bots:read"]}`)
	fmt.Println("create:", created.Code, strings.Contains(created.Body.String(), `"plaintext":"ak_`))
	// Output:
	// page: 200
	// API without a key: 401
	// create: 201 true
}

// A host that wraps every route in one key middleware lets the page
// through with Public; the API behind it still needs a key.
func ExamplePublic() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
	handler := keys.Middleware(apikey.WithSkip(admin.Public("/admin")))(mux)

	for _, path := range []string{"/admin/", "/admin/app.js", "/admin/keys"} {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// /admin/ 200
	// /admin/app.js 200
	// /admin/keys 401
}

// A host that wraps every route in one key middleware puts ServePage in
// front of it: the page is answered before any router sees the request,
// and every other path, however it is spelled, needs a key.
func ExampleServePage() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
	mux.HandleFunc("/{account}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.FromContext(r.Context())
		if !ok {
			apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
			return
		}
		fmt.Fprintln(w, "account page of", p.Owner)
	})
	handler := admin.ServePage("/admin")(keys.Middleware()(mux))

	for _, path := range []string{"/admin/", "/admin/app.js", "/admin", "/admin%2Fapp.js", "/%61dmin", "/admin/keys"} {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, w.Code)
	}
	// Output:
	// /admin/ 200
	// /admin/app.js 200
	// /admin 301
	// /admin%2Fapp.js 401
	// /%61dmin 401
	// /admin/keys 401
}
