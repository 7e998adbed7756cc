package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// OneKey reads credentials by the middleware's rules.
func TestOneKey(t *testing.T) {
	const k, other = "ak_key", "ak_other"
	long := strings.Repeat("a", 1025)
	tests := []struct {
		name         string
		values, auth []string
		want         string
		err          error
	}{
		{"header", []string{k}, nil, k, nil},
		{"spaces and tabs around", []string{" \t" + k + "\t "}, nil, k, nil},
		{"Bearer", nil, []string{"Bearer " + k}, k, nil},
		{"Token", nil, []string{"Token " + k}, k, nil},
		{"scheme in any case", nil, []string{"bEaReR " + k}, k, nil},
		{"several spaces and tabs after the scheme", nil, []string{"Bearer \t " + k}, k, nil},
		{"a tab after the scheme", nil, []string{"Bearer\t" + k}, k, nil},
		{"spaces around the whole value", nil, []string{" Token " + k + " "}, k, nil},
		{"the same key in every place", []string{k, k}, []string{"Bearer " + k, "Token " + k}, k, nil},
		{"another scheme is not a key", []string{k}, []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, k, nil},
		{"a longer scheme name is another scheme", nil, []string{"Bearerish " + k}, "", apikey.ErrMissingKey},
		{"a token glued to the scheme", nil, []string{"Bearer" + k}, "", apikey.ErrMissingKey},
		{"nothing", nil, nil, "", apikey.ErrMissingKey},
		{"empty and blank values", []string{"", " \t "}, []string{""}, "", apikey.ErrMissingKey},
		{"scheme alone", nil, []string{"Bearer"}, "", apikey.ErrMalformedKey},
		{"scheme and blanks", nil, []string{"Bearer \t "}, "", apikey.ErrMalformedKey},
		{"space in the token", nil, []string{"Bearer " + k + " x"}, "", apikey.ErrMalformedKey},
		{"tab in the token", nil, []string{"Bearer " + k + "\tx"}, "", apikey.ErrMalformedKey},
		{"comma in the token", nil, []string{"Token " + k + "," + other}, "", apikey.ErrMalformedKey},
		{"oversized header", []string{long}, nil, "", apikey.ErrMalformedKey},
		{"oversized token", nil, []string{"Bearer " + long}, "", apikey.ErrMalformedKey},
		{"two headers", []string{k, other}, nil, "", apikey.ErrConflictingKeys},
		{"header and Bearer", []string{k}, []string{"Bearer " + other}, "", apikey.ErrConflictingKeys},
		{"Bearer and Token", nil, []string{"Bearer " + k, "Token " + other}, "", apikey.ErrConflictingKeys},
	}
	for _, tt := range tests {
		got, err := apikey.OneKey(tt.values, tt.auth, "Bearer", "Token")
		assert.Equal(t, tt.want, got, tt.name)
		assert.ErrorIs(t, err, tt.err, tt.name)
		if tt.err == nil {
			assert.NoError(t, err, tt.name)
		}
	}
	// Only the schemes asked for are read.
	got, err := apikey.OneKey(nil, []string{"Token " + k}, "Bearer")
	assert.Empty(t, got)
	assert.ErrorIs(t, err, apikey.ErrMissingKey)
}

// FuzzOneKeyMatchesTheMiddleware checks OneKey against the
// middleware reading the same headers (X-API-Key, Authorization under
// Bearer and Token): both find the same problem, or OneKey finds a key the
// middleware accepts when it is the issued one and refuses as a bad key
// otherwise.
func FuzzOneKeyMatchesTheMiddleware(f *testing.F) {
	keys := apikey.New(apikey.NewMemoryStore())
	f.Cleanup(func() { _ = keys.Close() })
	issued, _, err := keys.Create(context.Background(), apikey.NewKey{Owner: "fuzz"})
	require.NoError(f, err)
	for _, seed := range [][4]string{
		{issued, "", "", ""},
		{"", "", "Bearer " + issued, ""},
		{issued, " " + issued + "\t", "token\t" + issued, "Basic x"},
		{issued, "", "Bearer " + issued + "x", ""},
		{"", "", "Bearer", "Token a,b"},
		{"", " ", "Bearerx y", "bearer  " + issued},
		{strings.Repeat("k", 1025), "", "", ""},
		{"", "", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, h1, h2, a1, a2 string) {
		var coreErr error
		served := false
		mw := keys.Middleware(
			apikey.WithSources(apikey.FromHeader("X-API-Key"), apikey.FromAuthorization("Bearer"), apikey.FromAuthorization("Token")),
			apikey.WithErrorHandler(func(_ http.ResponseWriter, _ *http.Request, err error) { coreErr = err }),
		)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["X-Api-Key"] = []string{h1, h2}
		r.Header["Authorization"] = []string{a1, a2}
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true })).ServeHTTP(httptest.NewRecorder(), r)

		key, err := apikey.OneKey([]string{h1, h2}, []string{a1, a2}, "Bearer", "Token")
		switch {
		case err != nil:
			if !errors.Is(coreErr, err) {
				t.Fatalf("OneKey: %v; the middleware: %v", err, coreErr)
			}
		case key == issued:
			if !served {
				t.Fatalf("OneKey found the issued key; the middleware refused it: %v", coreErr)
			}
		case !errors.Is(coreErr, apikey.ErrMalformedKey) && !errors.Is(coreErr, apikey.ErrUnknownKey):
			t.Fatalf("OneKey found a key that is not the issued one; the middleware: %v, served %v", coreErr, served)
		}
	})
}

// An adapter for another framework reads the places its framework carries
// credentials, and lets OneKey judge them as the middleware would.
func ExampleOneKey() {
	md := map[string][]string{ // gRPC metadata, say
		"x-api-key":     {" ak_4qGZexample "},
		"authorization": {"Bearer ak_4qGZexample"},
	}
	key, err := apikey.OneKey(md["x-api-key"], md["authorization"], "Bearer", "Token")
	fmt.Println(key, err)

	md["authorization"] = []string{"Token ak_other"}
	_, err = apikey.OneKey(md["x-api-key"], md["authorization"], "Bearer", "Token")
	fmt.Println(errors.Is(err, apikey.ErrConflictingKeys))
	// Output:
	// ak_4qGZexample <nil>
	// true
}
