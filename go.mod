module github.com/go-apikey/apikey

go 1.26

require github.com/stretchr/testify v1.12.1

require (
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
