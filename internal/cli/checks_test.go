package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// gatewayCheck sends a check request as a gateway would, and returns the
// status and headers.
func gatewayCheck(t *testing.T, method, url string, headers ...string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	// A gateway takes the check's answer as it is: a redirect is a refusal.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// serve --forward-auth and --ext-authz answer gateways' checks beside the
// admin page, with the rules and trusted gateway given, from the same key
// database: a key disabled by the command is refused by the next check,
// and uses are recorded as a service records them.
func TestServeForwardAuth(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	alice := c.create("--owner", "Zoë Ops", "--scope", "bots:read")
	office := c.create("--owner", "office", "--scope", "bots:read")
	m, _ := c.manager()
	_, err := m.Update(context.Background(), office.ID, apikey.SetAllowedIPs(netip.MustParsePrefix("10.0.0.0/8")))
	require.NoError(t, err)

	t.Run("serving", func(t *testing.T) {
		out := exampletest.Start(t, serveRunner(db, "--key-dir", t.TempDir(),
			"--forward-auth", "/auth", "--ext-authz", "/ext_authz",
			"--trusted-proxy", "127.0.0.1", "--require", "POST /bots=bots:write"), "X-Forwarded-Uri: /")
		assert.Contains(t, out, "/auth   nginx auth_request, Traefik ForwardAuth, Caddy forward_auth (the client's URI in X-Forwarded-Uri)")
		assert.Contains(t, out, "/ext_authz   Envoy HTTP ext_authz (http_service.path_prefix: /ext_authz)")
		assert.Contains(t, out, "Rule: POST /bots=bots:write")
		assert.Contains(t, out, "X-Forwarded-For sent by 127.0.0.1/32")
		lines := exampletest.CurlLines(out)
		require.Len(t, lines, 2, out)
		words := strings.Fields(lines[1])
		authURL := words[len(words)-1]
		base := strings.TrimSuffix(authURL, "/auth")

		// The printed line, with a key.
		status, body := exampletest.Do(t, strings.Replace(lines[1], "<a key>", alice.Plaintext, 1))
		assert.Equal(t, http.StatusOK, status, body)
		status, h := gatewayCheck(t, "GET", authURL, "X-API-Key", alice.Plaintext, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots")
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "Zo%C3%AB%20Ops", h.Get("X-Auth-Owner"))
		assert.Equal(t, alice.ID, h.Get("X-Auth-Key-Id"))
		assert.Equal(t, "bots:read", h.Get("X-Auth-Scopes"))

		status, h = gatewayCheck(t, "GET", authURL, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots?x-api-key="+alice.Plaintext)
		assert.Equal(t, http.StatusOK, status, "a query key in the client's URI")
		assert.Equal(t, alice.ID, h.Get("X-Auth-Key-Id"))
		status, h = gatewayCheck(t, "GET", authURL, "X-API-Key", alice.Plaintext, "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/bots")
		assert.Equal(t, http.StatusForbidden, status, "--require")
		assert.Equal(t, "Insufficient scope", h.Get("X-Auth-Error"))
		status, h = gatewayCheck(t, "GET", authURL, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.NotEmpty(t, h.Get("WWW-Authenticate"))

		// --trusted-proxy: the client's address, as the gateway saw it.
		fwd := []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/bots"}
		status, _ = gatewayCheck(t, "GET", authURL, append(fwd, "X-API-Key", office.Plaintext, "X-Forwarded-For", "10.1.2.3")...)
		assert.Equal(t, http.StatusOK, status)
		status, _ = gatewayCheck(t, "GET", authURL, append(fwd, "X-API-Key", office.Plaintext, "X-Forwarded-For", "192.0.2.1")...)
		assert.Equal(t, http.StatusForbidden, status)
		status, _ = gatewayCheck(t, "GET", authURL, "X-API-Key", office.Plaintext)
		assert.Equal(t, http.StatusInternalServerError, status, "rules need the client's method and URI")

		// Envoy: the client's request itself, behind the prefix; a path a
		// router would redirect is judged, not redirected.
		status, h = gatewayCheck(t, "GET", base+"/ext_authz/bots?x-api-key="+alice.Plaintext)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "Zo%C3%AB%20Ops", h.Get("X-Auth-Owner"))
		status, _ = gatewayCheck(t, "POST", base+"/ext_authz/bots", "X-API-Key", alice.Plaintext)
		assert.Equal(t, http.StatusForbidden, status)
		status, _ = gatewayCheck(t, "POST", base+"/ext_authz//public/../bots", "X-API-Key", alice.Plaintext)
		assert.Equal(t, http.StatusForbidden, status)

		// The admin page is still there.
		resp, err := http.Get(base + "/admin/")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)

		// Disabled by the command: refused by the next check.
		c.ok("disable", alice.ID)
		status, _ = gatewayCheck(t, "GET", authURL, append(fwd, "X-API-Key", alice.Plaintext)...)
		assert.Equal(t, http.StatusUnauthorized, status)
	})
	// serve has stopped, and written the last uses.
	assert.NotNil(t, c.show(office.ID).LastUsedAt, "the checks recorded the key's use")
}

// --admin=false serves the checks alone: no admin page, no admin key.
func TestServeChecksOnly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	k := c.create("--owner", "alice")
	dir := t.TempDir()
	out := exampletest.Start(t, serveRunner(db, "--key-dir", dir, "--admin=false", "--forward-auth", "/auth"), "X-Forwarded-Uri: /")
	assert.Contains(t, out, "Checking the keys of "+dbopen.Redact(db))
	assert.Contains(t, out, "No --trusted-proxy: keys with allowed IP ranges are judged by the gateway's address.")
	assert.NotContains(t, out, "admin")
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 1, out)
	status, body := exampletest.Do(t, strings.Replace(lines[0], "<a key>", k.Plaintext, 1))
	assert.Equal(t, http.StatusOK, status, body)
	words := strings.Fields(lines[0])
	base := strings.TrimSuffix(words[len(words)-1], "/auth")
	resp, err := http.Get(base + "/admin/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	var keys []issued
	require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--json")), &keys))
	assert.Len(t, keys, 1, "no admin key was made")
}

// Keys imported with --shape pass a gateway's check when serve is given
// the same --shape, and only then.
func TestServeChecksImportedKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	old := oldKey()
	r := c.run("import", writeFile(t, "old.csv", "owner,plaintext\nlegacy,"+old+"\n"), "--shape", oldShape)
	require.Equal(t, ExitOK, r.code, r.stderr)
	check := func(extra ...string) int {
		args := append([]string{"--admin=false", "--forward-auth", "/auth"}, extra...)
		out := exampletest.Start(t, serveRunner(db, args...), "X-Forwarded-Uri: /")
		lines := exampletest.CurlLines(out)
		require.Len(t, lines, 1, out)
		status, _ := exampletest.Do(t, strings.Replace(lines[0], "<a key>", old, 1))
		return status
	}
	assert.Equal(t, http.StatusUnauthorized, check(), "without --shape, an imported key is malformed")
	assert.Equal(t, http.StatusOK, check("--shape", oldShape))
	r = c.run("serve", "--addr", "127.0.0.1:0", "--shape", oldShape)
	assert.Equal(t, ExitUsage, r.code, "--shape without a check: %s", r.stderr)
	assert.Contains(t, r.stderr, "--shape goes with --forward-auth or --ext-authz")
}

// A store that fails refuses checks with 503, and serve logs why.
func TestServeChecksStoreDown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: apikey.DefaultSQLTable}
	k := c.create("--owner", "alice")
	var out testkit.LockedBuffer
	printed := exampletest.Start(t, func(ctx context.Context, addr string, w io.Writer) error {
		return serveRunner(db, "--admin=false", "--forward-auth", "/auth")(ctx, addr, io.MultiWriter(w, &out))
	}, "X-Forwarded-Uri: /")
	lines := exampletest.CurlLines(printed)
	require.Len(t, lines, 1)
	check := strings.Replace(lines[0], "<a key>", k.Plaintext, 1)
	status, _ := exampletest.Do(t, check)
	require.Equal(t, http.StatusOK, status)

	sqlDB, _, err := dbopen.Open(context.Background(), db)
	require.NoError(t, err)
	defer sqlDB.Close()
	_, err = sqlDB.Exec("DROP TABLE " + apikey.DefaultSQLTable)
	require.NoError(t, err)
	status, body := exampletest.Do(t, check)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, `{"code":-1,"msg":"Service unavailable"}`+"\n", body)
	assert.Contains(t, out.String(), "apikey: refusing requests with 503: key lookup failed", "logged")
	if holdsKey(out.String(), k.Plaintext) {
		t.Error("the log holds the key")
	}
}

// Flags that cannot work together are refused before anything starts.
func TestServeCheckFlagsRefused(t *testing.T) {
	c := newEnv(t)
	for _, args := range [][]string{
		{"--admin=false"},
		{"--require", "/bots=bots:read"},
		{"--trusted-proxy", "10.0.0.5"},
		{"--ext-authz", "/ext_authz", "--uri-header", "X-Original-URI"},
		{"--forward-auth", "/auth", "--uri-header", "X Original"},
		{"--forward-auth", "auth"},
		{"--forward-auth", "/auth/"},
		{"--forward-auth", "/"},
		{"--forward-auth", "/a?b"},
		{"--forward-auth", "/admin"},
		{"--forward-auth", "/admin/check"},
		{"--ext-authz", "/admin"},
		{"--forward-auth", "/auth/check", "--ext-authz", "/auth"},
		{"--forward-auth", "/auth", "--require", "bots"},
		{"--forward-auth", "/auth", "--require", "/bots=a b"},
		{"--forward-auth", "/auth", "--trusted-proxy", "10.0.0.300"},
		{"--forward-auth", "/auth", "--trusted-proxy", "::ffff:10.0.0.0/8"},
	} {
		r := c.run(append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
		assert.Equal(t, ExitUsage, r.code, "%q: %s", args, r.stderr)
	}
	assert.NoFileExists(t, c.db, "nothing was created")
}
