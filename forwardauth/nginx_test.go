package forwardauth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/testkit"
)

// readmeNginx returns the nginx configuration the README shows, the one
// block after the marker that names this test.
func readmeNginx(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "<!-- tested by forwardauth/nginx_test.go -->\n```nginx\n")
	require.True(t, ok, "README.md has the marked nginx block")
	conf, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return conf
}

// keyShaped matches what may be a key in nginx's error log, which quotes
// request lines, query keys and all.
var keyShaped = regexp.MustCompile(`[A-Za-z0-9_]*_[0-9A-Za-z]{20,}`)

// nginxBinary returns Debian's nginx, or skips the test without it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
	return ""
}

// freePort returns a loopback port nothing listens on just now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground, one process, with the http
// block http (in which %[1]d and %[2]d are two free ports) and returns
// the ports. The process is stopped, by its PID, when the test ends.
func startNginx(t *testing.T, http string) (int, int) {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	var lastErr string
	for range 3 { // another process may take a free port before nginx does
		p1, p2 := freePort(t), freePort(t)
		conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, fmt.Sprintf(http, p1, p2))
		path := filepath.Join(dir, "nginx.conf")
		require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
		cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
		var out testkit.LockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if waitListening(p1, exited) && waitListening(p2, exited) {
			t.Cleanup(func() {
				// Only this nginx, by its PID: a graceful stop, then a kill.
				_ = cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-exited:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("nginx error log (keys masked):\n%s", keyShaped.ReplaceAll(log, []byte("<key>")))
				}
			})
			return p1, p2
		}
		_ = cmd.Process.Kill()
		<-exited
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = out.String() + string(log)
		if !strings.Contains(lastErr, "Address already in use") {
			break
		}
	}
	t.Fatalf("nginx did not start:\n%s", lastErr)
	return 0, 0
}

// waitListening reports whether something listens on port within 10
// seconds, and false at once if the process exits.
func waitListening(port int, exited chan error) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// seen is what the service behind nginx received.
type seen struct {
	KeyID, Owner, Name, Scopes string
	APIKey                     []string
	URI                        string
}

// The README's nginx configuration, run by Debian's nginx in front of a
// plain service and the forward-auth handler, gives each outcome to the
// client, and the principal to the service.
func TestNginx(t *testing.T) {
	store := testkit.NewSpyStore()
	m := testkit.NewManager(t, store)
	plain, k := testkit.MustCreate(t, m, apikey.NewKey{Owner: "Zoë Ops", Name: "ci", Scopes: []string{"bots:read"}})
	admin, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "root", Scopes: []string{"admin"}})
	limited, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "partner", RateLimit: apikey.RateLimit{Limit: 1, Window: time.Hour}})
	office, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "office", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	local, _ := testkit.MustCreate(t, m, apikey.NewKey{Owner: "local", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})

	// What apikey serve --forward-auth /auth --trusted-proxy 127.0.0.1/32
	// --require /admin=admin --require 'POST /bots=bots:write' serves, and a second handler for a gateway
	// that sends X-Original-URI.
	gateway := forwardauth.WithMiddleware(apikey.WithTrustedProxies(netip.MustParsePrefix("127.0.0.1/32")))
	mux := http.NewServeMux()
	mux.Handle("/auth", forwardauth.New(m, gateway, forwardauth.Require("", "/admin", "admin"), forwardauth.Require("POST", "/bots", "bots:write")))
	mux.Handle("/auth-original", forwardauth.New(m, gateway, forwardauth.WithURIHeader("X-Original-URI")))
	auth := httptest.NewServer(mux)
	defer auth.Close()

	var served atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_ = json.NewEncoder(w).Encode(seen{
			KeyID: r.Header.Get("X-Auth-Key-Id"), Owner: r.Header.Get("X-Auth-Owner"),
			Name: r.Header.Get("X-Auth-Key-Name"), Scopes: r.Header.Get("X-Auth-Scopes"),
			APIKey: r.Header.Values("X-Api-Key"), URI: r.RequestURI,
		})
	}))
	defer app.Close()

	conf := readmeNginx(t)
	conf = strings.Replace(conf, "listen 80;", "listen 127.0.0.1:%[1]d;", 1)
	conf = strings.Replace(conf, "server 127.0.0.1:8080;", "server "+strings.TrimPrefix(app.URL, "http://")+";", 1)
	conf = strings.Replace(conf, "server 127.0.0.1:8081;", "server "+strings.TrimPrefix(auth.URL, "http://")+";", 1)
	// A second server, for the query key in X-Original-URI.
	conf += `
server {
    listen 127.0.0.1:%[2]d;
    location / {
        auth_request /_apikey;
        auth_request_set $apikey_owner $upstream_http_x_auth_owner;
        proxy_set_header X-Auth-Owner $apikey_owner;
        proxy_pass http://app;
    }
    location = /_apikey {
        internal;
        proxy_pass http://apikey/auth-original;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Forwarded-For $remote_addr;
    }
}
`
	port, port2 := startNginx(t, conf)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	do := func(t *testing.T, method, target string, headers ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, target, nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Add(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	// pass sends a request that must reach the service, and returns what
	// the service saw.
	pass := func(t *testing.T, target string, headers ...string) (*http.Response, seen) {
		t.Helper()
		before := served.Load()
		resp, body := do(t, "GET", target, headers...)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Equal(t, before+1, served.Load())
		var s seen
		require.NoError(t, json.Unmarshal([]byte(body), &s), body)
		return resp, s
	}
	// refuse sends a request that must not reach the service, and checks
	// the status, the JSON body and the challenge.
	refuseMethod := func(t *testing.T, method string, status int, msg, challenge, target string, headers ...string) *http.Response {
		t.Helper()
		before := served.Load()
		resp, body := do(t, method, target, headers...)
		assert.Equal(t, before, served.Load(), "the service was not asked")
		assert.Equal(t, status, resp.StatusCode, body)
		assert.Equal(t, fmt.Sprintf(`{"code":-1,"msg":%q}`+"\n", msg), body)
		assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		if challenge == "" {
			assert.Empty(t, resp.Header.Values("WWW-Authenticate"))
		} else {
			assert.Equal(t, []string{challenge}, resp.Header.Values("WWW-Authenticate"))
		}
		return resp
	}
	refuse := func(t *testing.T, status int, msg, challenge, target string, headers ...string) *http.Response {
		t.Helper()
		return refuseMethod(t, "GET", status, msg, challenge, target, headers...)
	}

	t.Run("valid key", func(t *testing.T) {
		_, s := pass(t, base+"/bots", "X-API-Key", plain, "X-Auth-Owner", "mallory", "X-Auth-Scopes", "admin")
		assert.Equal(t, seen{KeyID: k.ID, Owner: "Zo%C3%AB%20Ops", Name: "ci", Scopes: "bots:read", URI: "/bots"}, s,
			"the principal, in place of the client's headers, and no key")
		_, s = pass(t, base+"/bots", "Authorization", "Bearer "+plain)
		assert.Equal(t, "Zo%C3%AB%20Ops", s.Owner)
	})
	t.Run("missing key", func(t *testing.T) {
		refuse(t, 401, "Missing API key", `Bearer realm="api"`, base+"/bots")
		refuse(t, 401, "Missing API key", `Bearer realm="api"`, base+"/bots", "X-Auth-Owner", "mallory")
	})
	t.Run("bad key", func(t *testing.T) {
		invalid := `Bearer realm="api", error="invalid_token"`
		refuse(t, 401, "Invalid API key", invalid, base+"/bots", "X-API-Key", "ak_000000000000000000000000000000000000")
		refuse(t, 401, "Invalid API key", invalid, base+"/bots", "X-API-Key", testkit.ChangeLast(plain))
	})
	t.Run("scope refused", func(t *testing.T) {
		refuse(t, 403, "Insufficient scope", "", base+"/admin/keys", "X-API-Key", plain)
		refuse(t, 403, "Insufficient scope", "", base+"/%61dmin/keys", "X-API-Key", plain)
		refuse(t, 403, "Insufficient scope", "", base+"/public/..%2Fadmin", "X-API-Key", plain)
		refuse(t, 403, "Insufficient scope", "", base+"/ADMIN/keys", "X-API-Key", plain)
		refuse(t, 403, "Insufficient scope", "", base+"/public/..;/admin/keys", "X-API-Key", plain)
		// The client cannot name another request: nginx sets these itself.
		refuse(t, 403, "Insufficient scope", "", base+"/admin/keys", "X-API-Key", plain,
			"X-Forwarded-Uri", "/public", "X-Forwarded-Method", "GET")
		refuseMethod(t, "POST", 403, "Insufficient scope", "", base+"/bots", "X-API-Key", plain,
			"X-Forwarded-Method", "GET")
		_, s := pass(t, base+"/admin/keys", "X-API-Key", admin)
		assert.Equal(t, "root", s.Owner)
		// The client's method reaches the check, not the subrequest's.
		refuseMethod(t, "POST", 403, "Insufficient scope", "", base+"/bots", "X-API-Key", plain)
		before := served.Load()
		resp, _ := do(t, "HEAD", base+"/admin", "X-API-Key", plain)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, before, served.Load())
	})
	t.Run("rate limited", func(t *testing.T) {
		resp, _ := pass(t, base+"/bots", "X-API-Key", limited)
		assert.Equal(t, "1", resp.Header.Get("RateLimit-Limit"), "the limit reaches the client")
		assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
		resp = refuse(t, 429, "Rate limit exceeded", "", base+"/bots", "X-API-Key", limited)
		retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		require.NoError(t, err, "Retry-After")
		assert.True(t, retry >= 1 && retry <= 3600, "Retry-After %d", retry)
		assert.Equal(t, "1", resp.Header.Get("RateLimit-Limit"))
		assert.Equal(t, "0", resp.Header.Get("RateLimit-Remaining"))
		assert.NotEmpty(t, resp.Header.Get("RateLimit-Reset"))
	})
	t.Run("client address", func(t *testing.T) {
		refuse(t, 403, "Access denied from this IP address", "", base+"/bots", "X-API-Key", office, "X-Forwarded-For", "10.1.2.3")
		_, s := pass(t, base+"/bots", "X-API-Key", local, "X-Forwarded-For", "10.1.2.3")
		assert.Equal(t, "local", s.Owner, "the address nginx saw")
	})
	t.Run("query key", func(t *testing.T) {
		_, s := pass(t, base+"/bots?page=2&x-api-key="+plain)
		assert.Equal(t, "Zo%C3%AB%20Ops", s.Owner)
		_, s = pass(t, fmt.Sprintf("http://127.0.0.1:%d/bots?x-api-key=%s", port2, plain))
		assert.Equal(t, "Zo%C3%AB%20Ops", s.Owner, "through X-Original-URI")
		refuse(t, 401, "Missing API key", `Bearer realm="api"`, base+"/bots?x-api-key=")
	})
	t.Run("two keys", func(t *testing.T) {
		refuse(t, 400, "Conflicting API keys", "", base+"/bots?x-api-key="+admin, "X-API-Key", plain)
		refuse(t, 400, "Conflicting API keys", "", base+"/bots", "X-API-Key", plain, "Authorization", "Bearer "+admin)
		_, s := pass(t, base+"/bots?x-api-key="+plain, "X-API-Key", plain)
		assert.Equal(t, "Zo%C3%AB%20Ops", s.Owner, "the same key twice is one key")
	})
	t.Run("store down", func(t *testing.T) {
		store.FailWith(errors.New("connection refused"))
		defer store.Heal()
		refuse(t, 503, "Service unavailable", "", base+"/bots", "X-API-Key", plain)
	})
	t.Run("check service down", func(t *testing.T) {
		auth.Close()
		refuse(t, 503, "Service unavailable", "", base+"/bots", "X-API-Key", plain)
	})
	testkit.Remember(plain, admin, limited, office, local)
}

// The README's nginx block names the headers the handler sends.
func TestNginxNamesTheHeaders(t *testing.T) {
	conf := readmeNginx(t)
	h := forwardauth.DefaultHeaders()
	for _, name := range []string{h.KeyID, h.Owner, h.Name, h.Scopes, h.Error} {
		variable := "$upstream_http_" + strings.ReplaceAll(strings.ToLower(name), "-", "_")
		assert.Contains(t, conf, variable)
	}
	assert.Regexp(t, regexp.MustCompile(`proxy_pass http://apikey/auth;`), conf, "the path apikey serve --forward-auth /auth serves")
}
