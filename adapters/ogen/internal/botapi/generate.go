// Package botapi is the code ogen generates from openapi.yaml, a tiny API
// whose operations need an API key (in X-API-Key or as a Bearer token) and
// list the scopes they require as roles; the health operation needs none.
// The tests and the example of apikeyogen serve it and call it.
//
// Regenerate it, with the ogen version pinned here, by running
//
//	go generate ./internal/botapi
//
// in adapters/ogen.
package botapi

//go:generate go run github.com/ogen-go/ogen/cmd/ogen@v1.25.0 --target . --package botapi --clean openapi.yaml
