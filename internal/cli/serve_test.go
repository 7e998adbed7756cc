package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/go-apikey/apikey"
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

// A serve that cannot listen must not leave behind an admin key nobody saw.
func TestServeBusyAddressCreatesNoKey(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c := newEnv(t)
	r := c.run("serve", "--addr", ln.Addr().String())
	assert.Equal(t, ExitFailed, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "Store it now")
	assert.Equal(t, "[]\n", c.ok("list", "--json"), "no key was created")
}

// Keys made through serve get its --prefix; a key of another service keeps
// its own prefix through a rotation, so that service still accepts it.
func TestServePrefixes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	other := c.create("--owner", "bob", "--prefix", "sk_live")

	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		if code := Run(ctx, []string{"serve", "--addr", addr, "--db", db, "--prefix", "lbk"}, out, out, func(string) string { return "" }); code != ExitOK {
			return fmt.Errorf("serve exited %d", code)
		}
		return nil
	}, "/admin/keys")
	adminKey := regexp.MustCompile(`(?m)^    (lbk_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, adminKey, "the admin key has serve's prefix:\n%s", out)
	url := strings.Fields(exampletest.CurlLines(out)[0])
	keysURL := url[len(url)-1]

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, keysURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", adminKey[1])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var got map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		return resp.StatusCode, got
	}
	status, made := call(http.MethodPost, "", `{"owner":"carol","name":"ci"}`)
	require.Equal(t, http.StatusCreated, status, made)
	assert.True(t, strings.HasPrefix(made["plaintext"].(string), "lbk_"), made["plaintext"])

	status, rotated := call(http.MethodPost, "/"+other.ID+"/rotate", `{}`)
	require.Equal(t, http.StatusCreated, status, rotated)
	plain := rotated["plaintext"].(string)
	assert.True(t, strings.HasPrefix(plain, "sk_live_"), "rotated %s into %s", other.Key, plain)
	_, err := c.verify(plain, apikey.WithPrefix("sk_live"))
	assert.NoError(t, err, "the service that owns the key accepts its successor")
}
