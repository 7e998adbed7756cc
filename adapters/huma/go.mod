module github.com/go-apikey/apikey/adapters/huma

go 1.26.0

replace github.com/go-apikey/apikey => ../..

require (
	github.com/danielgtaylor/huma/v2 v2.37.2
	github.com/go-apikey/apikey v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
