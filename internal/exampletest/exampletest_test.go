package exampletest

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCurl(t *testing.T) {
	req, err := Curl(`curl -X POST -H 'X-API-Key: ak_1' -H 'Content-Type: application/json' -d '{"a": "b c"}' http://127.0.0.1:1/x   # note`)
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, req.Method)
	assert.Equal(t, "ak_1", req.Header.Get("X-API-Key"))
	assert.Equal(t, "application/json", req.Header.Get("Content-Type"))
	assert.Equal(t, "http://127.0.0.1:1/x", req.URL.String())
	b, _ := io.ReadAll(req.Body)
	assert.Equal(t, `{"a": "b c"}`, string(b))

	req, err = Curl(`curl 'http://h/?x-api-key=ak_1'`)
	require.NoError(t, err)
	assert.Equal(t, http.MethodGet, req.Method)
	assert.Equal(t, "ak_1", req.URL.Query().Get("x-api-key"))

	for _, bad := range []string{`wget http://h/`, `curl -H`, `curl 'http://h/`, `curl --insecure http://h/`, `curl -H 'NoColon' http://h/`} {
		_, err := Curl(bad)
		assert.Error(t, err, bad)
	}
}

func TestCurlLines(t *testing.T) {
	out := "Listening\n  curl http://a/\nnot curl\n  curl -H 'X: y' http://b/\n"
	assert.Equal(t, []string{"curl http://a/", "curl -H 'X: y' http://b/"}, CurlLines(out))
}
