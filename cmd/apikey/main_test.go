package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The commands themselves are tested in internal/cli; this checks that the
// program passes its arguments, output and environment through.
func TestRun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	getenv := func(name string) string {
		if name == "APIKEY_DB" {
			return db
		}
		return ""
	}
	tests := []struct {
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{[]string{"help"}, 0, "Usage:", ""},
		{[]string{"create", "--owner", "alice"}, 0, "Store it now: it will not be shown again.", ""},
		{[]string{"list"}, 0, "alice", ""},
		{[]string{"show", "01NOSUCHKEY"}, 1, "", "key not found"},
		{[]string{"bogus"}, 2, "", "unknown command"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr, getenv)
		assert.Equal(t, tt.code, code, "%v: %s", tt.args, stderr.String())
		assert.Contains(t, stdout.String(), tt.stdout, tt.args)
		assert.Contains(t, stderr.String(), tt.stderrPart, tt.args)
	}
	assert.FileExists(t, db, "APIKEY_DB reached the command")
}
