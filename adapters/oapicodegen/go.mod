module github.com/go-apikey/apikey/adapters/oapicodegen

go 1.26.0

replace github.com/go-apikey/apikey => ../..

require (
	github.com/getkin/kin-openapi v0.153.0
	github.com/go-apikey/apikey v0.0.0-00010101000000-000000000000
	github.com/oapi-codegen/nethttp-middleware v1.3.1
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/go-openapi/jsonpointer v1.0.0 // indirect
	github.com/gorilla/mux v1.8.1 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	go.yaml.in/yaml/v4 v4.0.0 // indirect
	golang.org/x/text v0.40.0 // indirect
)
