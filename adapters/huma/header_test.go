package apikeyhuma

// This file is the same in every adapter module that has header.go.

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/go-apikey/apikey"
)

func TestOneKey(t *testing.T) {
	const k, other = "ak_key", "ak_other"
	long := strings.Repeat("a", maxCredentialLen+1)
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
		got, err := oneKey(tt.values, tt.auth, "Bearer", "Token")
		assert.Equal(t, tt.want, got, tt.name)
		assert.ErrorIs(t, err, tt.err, tt.name)
		if tt.err == nil {
			assert.NoError(t, err, tt.name)
		}
	}
	// Only the schemes asked for are read.
	got, err := oneKey(nil, []string{"Token " + k}, "Bearer")
	assert.Empty(t, got)
	assert.ErrorIs(t, err, apikey.ErrMissingKey)
}
