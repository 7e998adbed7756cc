package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveRunner runs serve on db with extra arguments, its stdout and
// stderr both written to out, as under a service manager.
func serveRunner(db string, extra ...string) exampletest.RunFunc {
	return func(ctx context.Context, addr string, out io.Writer) error {
		args := append([]string{"serve", "--addr", addr, "--db", db}, extra...)
		if code := Run(ctx, args, out, out, func(string) string { return "" }); code != ExitOK {
			return fmt.Errorf("serve exited %d", code)
		}
		return nil
	}
}

// keyFileLine is where serve says it wrote a new admin key.
var keyFileLine = regexp.MustCompile(`(?m)^    (/\S+/admin-key-\d+\.txt)$`)

// adminKeyFile returns the admin key serve wrote to a file in dir, after
// checking that out names that file, the file is the only one there and
// only its owner may read it, and out holds no key.
func adminKeyFile(t *testing.T, out, dir string) string {
	t.Helper()
	if apikey.LooksLikeKey(out) {
		t.Fatal("the output holds a key")
	}
	m := keyFileLine.FindStringSubmatch(out)
	require.NotNil(t, m, "serve says where the key is:\n%s", out)
	files, err := filepath.Glob(filepath.Join(dir, "admin-key-*.txt"))
	require.NoError(t, err)
	require.Equal(t, []string{m[1]}, files, "one new file, where serve says")
	fi, err := os.Stat(m[1])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only the owner may read the key")
	b, err := os.ReadFile(m[1])
	require.NoError(t, err)
	key := strings.TrimSuffix(string(b), "\n")
	require.True(t, apikey.LooksLikeKey(key), "the file holds a key and a newline")
	assert.Equal(t, key+"\n", string(b))
	if holdsKey(out, key) {
		t.Fatal("the output holds part of the key")
	}
	require.NoError(t, os.Remove(m[1])) // as the user is told to
	return key
}

// Under a service manager, serve's output is a log: a new admin key goes
// to a file only the user can read, and the output says where.
func TestServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	c := &cmdEnv{t: t, db: db, table: "api_keys"}
	made := c.create("--owner", "alice", "--name", "ci")

	dir := filepath.Join(t.TempDir(), "keys", "admin") // made, as the default one is
	out := exampletest.Start(t, serveRunner(db, "--key-dir", dir), "/admin/keys")
	assert.Contains(t, out, "This output is not a\nterminal, so the key is not printed; it is in a file only you can read:")
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	assert.NotContains(t, out, "Store it now")
	assert.NotContains(t, out, "warning", "on loopback, nothing to warn of")
	key := adminKeyFile(t, out, dir)
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 1, out)
	require.Contains(t, lines[0], "'X-API-Key: <admin key>'")
	status, body := exampletest.Do(t, strings.Replace(lines[0], "<admin key>", key, 1))
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, made.ID, "the admin sees every key of the database")
	assert.NotContains(t, body, made.Plaintext)

	page := strings.Replace(strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1], "/admin/keys", "/admin/", 1)
	resp, err := http.Get(page)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the page needs no key")
	status, _ = exampletest.Do(t, "curl "+strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1])
	assert.Equal(t, http.StatusUnauthorized, status, "the API does")

	// A second start finds the admin key and makes no new one.
	again := exampletest.Start(t, serveRunner(db, "--key-dir", dir), "/admin/keys")
	assert.NotContains(t, again, "was created")
	assert.Contains(t, again, "Sign in with an existing admin key")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Empty(t, files)
}

// On a terminal, serve prints a new admin key once, and writes no file.
func TestServeOnTerminal(t *testing.T) {
	old := terminal
	terminal = func(io.Writer) bool { return true }
	t.Cleanup(func() { terminal = old })
	db := filepath.Join(t.TempDir(), "keys.db")
	dir := t.TempDir()
	out := exampletest.Start(t, serveRunner(db, "--key-dir", dir), "/admin/keys")
	assert.Contains(t, out, "Store it now: it will not be shown again.")
	adminKey := regexp.MustCompile(`(?m)^    (ak_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, adminKey, withheld(out))
	lines := exampletest.CurlLines(out)
	require.Len(t, lines, 1, withheld(out))
	assert.True(t, strings.Contains(lines[0], adminKey[1]), "the curl line is ready to paste")
	status, body := exampletest.Do(t, lines[0])
	assert.Equal(t, http.StatusOK, status, body)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	assert.Empty(t, files)
}

// Without --key-dir, the key file goes to the user config directory's
// apikey, made for the user only.
func TestServeDefaultKeyDir(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	out := exampletest.Start(t, serveRunner(filepath.Join(t.TempDir(), "keys.db")), "/admin/keys")
	dir := filepath.Join(config, "apikey")
	fi, err := os.Stat(dir)
	require.NoError(t, err, withheld(out))
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	adminKeyFile(t, out, dir)
}

// A key file that cannot be made stops serve before it creates a key
// nobody would ever read.
func TestServeKeyDirMissing(t *testing.T) {
	c := newEnv(t)
	// A missing directory is made (TestServe); one under a file cannot be.
	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	r := c.run("serve", "--addr", "127.0.0.1:0", "--key-dir", filepath.Join(file, "keys"))
	assert.Equal(t, ExitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "making a directory for the new admin key")
	assert.Contains(t, r.stderr, "give another --key-dir")
	assert.Equal(t, "[]\n", c.ok("list", "--json"), "no key was created")
}

// Only a terminal counts: not a pipe, a file or the null device.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, isTerminal(w), "a pipe")
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a file")
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer null.Close()
	assert.False(t, isTerminal(null), "the null device")
	assert.False(t, isTerminal(io.Discard), "not a file at all")
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to check the other way: %v", err)
	}
	defer pty.Close()
	assert.True(t, isTerminal(pty), "a pseudo-terminal")
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
	other := c.createWarned("--owner", "bob", "--prefix", "sk_live")

	dir := t.TempDir()
	out := exampletest.Start(t, serveRunner(db, "--prefix", "lbk", "--key-dir", dir), "/admin/keys")
	adminKey := adminKeyFile(t, out, dir)
	require.True(t, strings.HasPrefix(adminKey, "lbk_"), "the admin key has serve's prefix: %s", adminKey[:4])
	assert.Contains(t, out, `apikey: warning: no key in table api_keys has prefix "lbk"; its keys have "sk_live".`,
		"keys made on the page get a prefix no key in the table has")
	url := strings.Fields(exampletest.CurlLines(out)[0])
	keysURL := url[len(url)-1]

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, keysURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", adminKey)
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
	assert.True(t, strings.HasPrefix(plain, "sk_live_"), "rotated %s into %s", other.Plaintext, plain)
	_, err := c.verify(plain, apikey.WithPrefix("sk_live"))
	assert.NoError(t, err, "the service that owns the key accepts its successor")
}

// serve as a process whose output is a pipe, as under a service manager:
// the new admin key is in a file, and the output holds none.
func TestServeToAPipe(t *testing.T) {
	dir := t.TempDir()
	cmd := process(t, nil, "serve", "--db", filepath.Join(t.TempDir(), "keys.db"), "--addr", "127.0.0.1:0", "--key-dir", dir)
	var out testkit.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out // not *os.File: exec makes pipes
	require.NoError(t, cmd.Start())
	exited := make(chan struct{}) // closed once waitErr is set
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	if !assert.Eventually(t, func() bool { return len(exampletest.CurlLines(out.String())) > 0 }, 20*time.Second, 10*time.Millisecond) {
		t.Fatalf("serve did not start:\n%s", withheld(out.String()))
	}
	key := adminKeyFile(t, out.String(), dir)
	line := exampletest.CurlLines(out.String())[0]
	status, body := exampletest.Do(t, strings.Replace(line, "<admin key>", key, 1))
	assert.Equal(t, http.StatusOK, status, body)

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case <-exited:
		assert.NoError(t, waitErr, "serve stops cleanly:\n%s", withheld(out.String()))
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if holdsKey(out.String(), key) {
		t.Error("the output holds the key")
	}
}

// serve on every interface prints a URL a browser opens, never
// http://[::]:…, lists the host's addresses, and warns that the page is
// plain HTTP reachable from other hosts.
func TestServeOnEveryInterface(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0"} {
		t.Run(addr, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "keys.db")
			dir := t.TempDir()
			var stderr testkit.LockedBuffer
			out := exampletest.Start(t, func(ctx context.Context, _ string, out io.Writer) error {
				args := []string{"serve", "--addr", addr, "--db", db, "--key-dir", dir}
				if code := Run(ctx, args, out, &stderr, func(string) string { return "" }); code != ExitOK {
					return fmt.Errorf("serve exited %d", code)
				}
				return nil
			}, "/admin/keys")
			assert.Regexp(t, `at http://127\.0\.0\.1:\d+/admin/\n`, out)
			assert.NotContains(t, out, "http://[::]")
			assert.NotContains(t, out, "http://0.0.0.0")
			assert.Contains(t, stderr.String(), "apikey serve: warning: --addr "+addr+" can be reached from other hosts, and the page is plain HTTP")
			key := adminKeyFile(t, out, dir)
			lines := exampletest.CurlLines(out)
			require.Len(t, lines, 1, out)
			status, body := exampletest.Do(t, strings.Replace(lines[0], "<admin key>", key, 1))
			assert.Equal(t, http.StatusOK, status, "the printed URL works: %s", body)
		})
	}
}

func TestServeURLs(t *testing.T) {
	old := interfaceAddrs
	t.Cleanup(func() { interfaceAddrs = old })
	var host []net.Addr
	for _, p := range []string{"127.0.0.1/8", "192.0.2.2/24", "::1/128", "fd00::2/64", "fe80::1/64", "198.51.100.7/24"} {
		ip, n, err := net.ParseCIDR(p)
		require.NoError(t, err)
		host = append(host, &net.IPNet{IP: ip, Mask: n.Mask})
	}
	interfaceAddrs = func() ([]net.Addr, error) { return host, nil }
	for _, tt := range []struct {
		listen  string
		base    string
		exposed bool
		others  []string
	}{
		{"[::]:8081", "http://127.0.0.1:8081", true, []string{"http://192.0.2.2:8081", "http://[fd00::2]:8081", "http://198.51.100.7:8081"}},
		{"0.0.0.0:8081", "http://127.0.0.1:8081", true, []string{"http://192.0.2.2:8081", "http://198.51.100.7:8081"}},
		{"127.0.0.1:8081", "http://127.0.0.1:8081", false, nil},
		{"[::1]:8081", "http://[::1]:8081", false, nil},
		{"192.0.2.2:8081", "http://192.0.2.2:8081", true, nil},
		{"[fe80::1%eth0]:8081", "http://[fe80::1]:8081", true, nil},
	} {
		ap := netip.MustParseAddrPort(tt.listen)
		base, exposed, others := serveURLs(net.TCPAddrFromAddrPort(ap))
		assert.Equal(t, tt.base, base, tt.listen)
		assert.Equal(t, tt.exposed, exposed, tt.listen)
		assert.Equal(t, tt.others, others, tt.listen)
	}

	// At most maxOtherURLs of the host's addresses.
	host = nil
	for i := range 10 {
		host = append(host, &net.IPNet{IP: net.IPv4(192, 0, 2, byte(10+i)), Mask: net.CIDRMask(24, 32)})
	}
	_, _, others := serveURLs(&net.TCPAddr{IP: net.IPv6unspecified, Port: 1})
	assert.Len(t, others, maxOtherURLs)
}
