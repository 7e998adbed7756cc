package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func serveRunner(db string) exampletest.RunFunc {
	return func(ctx context.Context, addr string, out io.Writer) error {
		if code := Run(ctx, []string{"serve", "--addr", addr, "--db", db}, out, out, func(string) string { return "" }); code != ExitOK {
			return fmt.Errorf("serve exited %d", code)
		}
		return nil
	}
}

func TestServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: "api_keys"}
	made := c.create("--owner", "alice", "--name", "ci")

	out := exampletest.Start(t, serveRunner(db), "/admin/keys")
	assert.Contains(t, out, "Store it now: it will not be shown again.")
	adminKey := regexp.MustCompile(`(?m)^    (ak_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, adminKey, out)
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 1, out)
	status, body := exampletest.Do(t, lines[0])
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, made.ID, "the admin sees every key of the database")
	assert.NotContains(t, body, made.Key)

	page := strings.Replace(strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1], "/admin/keys", "/admin/", 1)
	resp, err := http.Get(page)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the page needs no key")
	status, _ = exampletest.Do(t, "curl "+strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1])
	assert.Equal(t, http.StatusUnauthorized, status, "the API does")

	// A second start finds the admin key and prints no new one.
	again := exampletest.Start(t, serveRunner(db), "/admin/keys")
	assert.NotContains(t, again, "Store it now")
	assert.Contains(t, again, "Sign in with an existing admin key")
	assert.NotContains(t, again, adminKey[1])
}
