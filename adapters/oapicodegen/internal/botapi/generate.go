// Package botapi is the code oapi-codegen generates from openapi.yaml, a
// tiny API whose operations need an API key (in X-API-Key or as a Bearer
// token) and list the scopes they require in their security requirements;
// the health operation needs none. The tests and the example of apikeyoapi
// serve it behind nethttp-middleware's request validator and call it.
//
// Regenerate it, with the oapi-codegen version pinned here, by running
//
//	go generate ./internal/botapi
//
// in adapters/oapicodegen.
package botapi

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config config.yaml openapi.yaml
