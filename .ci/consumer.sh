#!/usr/bin/env bash
# A program that imports only the root package must get nothing else: its
# go.mod requires only apikey, and its go.sum holds testify's few lines at
# most (testify is required by the root module for its own tests and for
# the apikeytest suites, and is never compiled into the program).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
testify='^(github.com/stretchr/testify|github.com/davecgh/go-spew|github.com/pmezard/go-difflib|github.com/stretchr/objx|gopkg.in/yaml.v3|go.yaml.in/yaml/v3)$'
requires() { awk '/^require \(/{b=1; next} b && /^\)/{b=0} b{print $1} /^require [^(]/{print $2}' "$1" | sort -u; }
if requires "$repo/go.mod" | grep -v -E "$testify"; then
  echo "FAIL: the core module requires more than testify (above)"; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > go.mod <<MOD
module example.com/consumer

go 1.26.0

require github.com/go-apikey/apikey v0.0.0-00010101000000-000000000000

replace github.com/go-apikey/apikey => $repo
MOD
cat > main.go <<'GO'
package main

import (
	"fmt"
	"net/http"

	"github.com/go-apikey/apikey"
)

func main() {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	fmt.Println(keys.Middleware()(http.NotFoundHandler()) != nil)
}
GO
GOWORK=off GOFLAGS=-mod=mod go mod tidy
GOWORK=off go build ./...
compiled=$(GOWORK=off go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}}{{end}}{{end}}' . | sort -u)
echo "modules compiled into a program importing only the root package: $compiled"
echo "go.mod requires:"; grep -A20 '^require' go.mod | grep -v '^)' || true
echo "go.sum ($(wc -l < go.sum) lines):"; cat go.sum
if [ "$compiled" != "github.com/go-apikey/apikey" ]; then
  echo "FAIL: a program importing only the root package compiles other modules: $compiled"; exit 1
fi
required=$(requires go.mod | tr '\n' ' ')
if [ "$required" != "github.com/go-apikey/apikey " ]; then
  echo "FAIL: the consumer's go.mod requires more than apikey"; exit 1
fi
if awk '{print $1}' go.sum | grep -v -E "$testify"; then
  echo "FAIL: the consumer's go.sum holds more than testify's lines"; exit 1
fi
echo "consumer check passed: go.mod requires only apikey; go.sum: $(wc -l < go.sum) lines, testify's"
