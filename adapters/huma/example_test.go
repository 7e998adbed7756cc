package apikeyhuma_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/go-apikey/apikey"
	apikeyhuma "github.com/go-apikey/apikey/adapters/huma"
)

type greeting struct {
	Body struct {
		Message string `json:"message"`
	}
}

// A huma API whose operations declare the scheme and scopes they need;
// the middleware reads them from the operations.
func Example() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"greet"}})
	if err != nil {
		panic(err)
	}

	config := huma.DefaultConfig("Greeter", "1.0.0")
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"ApiKeyAuth": {Type: "apiKey", In: "header", Name: "X-API-Key"},
	}
	mux := http.NewServeMux()
	api := humago.New(mux, config)
	api.UseMiddleware(apikeyhuma.Middleware(api, keys, "ApiKeyAuth")) // before huma.Register
	huma.Register(api, huma.Operation{
		Method: http.MethodGet, Path: "/greeting",
		Security: []map[string][]string{{"ApiKeyAuth": {"greet"}}},
	}, func(ctx context.Context, _ *struct{}) (*greeting, error) {
		p, ok := apikey.FromContext(ctx)
		if !ok { // a public operation: never serve it as nobody
			return nil, huma.Error401Unauthorized("Missing API key")
		}
		out := &greeting{}
		out.Body.Message = "hello, " + p.Owner
		return out, nil
	})
	huma.Get(api, "/healthz", func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path, key string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			panic(err)
		}
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		var body struct{ Message, Detail string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		fmt.Println(res.StatusCode, body.Message+body.Detail)
	}
	get("/greeting", plain)
	get("/greeting", "")
	get("/healthz", "")
	// Output:
	// 200 hello, alice
	// 401 Missing API key
	// 204
}
