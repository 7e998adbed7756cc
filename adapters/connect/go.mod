module github.com/go-apikey/apikey/adapters/connect

go 1.26.0

replace github.com/go-apikey/apikey => ../..

require (
	connectrpc.com/connect v1.21.1
	github.com/go-apikey/apikey v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261123191846-1e707ab9fbc2
	google.golang.org/protobuf v1.36.12
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
