package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/cli"
	"github.com/go-apikey/apikey/internal/exampletest"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/go-apikey/apikey/pollfeed"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// issuedKey is what apikey create --json prints, as the admin API answers
// a create: the key, shown once, and its record.
type issuedKey struct {
	Plaintext string `json:"plaintext"`
	Key       struct {
		ID string `json:"id"`
	} `json:"key"`
}

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

// The walks cache keys for an hour, and for an hour too while the change
// feed is down: only the feed can make the service see a change in time.
const (
	longTTL = time.Hour
	// pgBound is how soon a change reaches the service by LISTEN/NOTIFY,
	// as the example promises ("within about a second").
	pgBound = time.Second
	// pollBound is the polling feed's bound: its interval, plus one query
	// and the commit of the change, which may land just after a poll.
	pollBound = pollfeed.DefaultInterval + 500*time.Millisecond
)

// observeFeed returns a config.wrapFeed and a function that waits until
// the feed has connected and the cache has emptied itself: from then on,
// every change reaches the service through the feed.
func observeFeed(t *testing.T) (func(cache.Feed) cache.Feed, func()) {
	var obs atomic.Pointer[feedtest.Observed]
	wrap := func(f cache.Feed) cache.Feed {
		o := feedtest.Observe(f)
		obs.Store(o)
		return o
	}
	wait := func() {
		t.Helper()
		feedtest.Await(t, 10*time.Second, "the change feed connects", func() bool {
			o := obs.Load()
			return o != nil && o.Connects() > 0
		})
	}
	return wrap, wait
}

// apikeyCmd runs a "go run ./cmd/apikey ..." line the example printed, with
// extra arguments, as the command would, and returns its output.
func apikeyCmd(t *testing.T, line string, extra ...string) string {
	t.Helper()
	return apikeyCmdEnv(t, func(string) string { return "" }, line, extra...)
}

// apikeyCmdEnv is apikeyCmd with the environment getenv gives.
func apikeyCmdEnv(t *testing.T, getenv func(string) string, line string, extra ...string) string {
	t.Helper()
	line, _, _ = strings.Cut(line, " #") // a comment, as the shell would drop it
	words := strings.Fields(line)
	require.Equal(t, []string{"go", "run", "./cmd/apikey"}, words[:3], line)
	for i, w := range words {
		// The example single-quotes words the shell would split, such as a
		// DSN with '?'; the shell removes the quotes, and so does this.
		if len(w) >= 2 && w[0] == '\'' && w[len(w)-1] == '\'' {
			words[i] = w[1 : len(w)-1]
		}
	}
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), append(words[3:], extra...), &stdout, &stderr, getenv)
	require.Equal(t, cli.ExitOK, code, "%s %v: %s", line, extra, stderr.String())
	return stdout.String()
}

func lineWith(t *testing.T, out, part string) string {
	t.Helper()
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, part) {
			return strings.TrimSpace(l)
		}
	}
	t.Fatalf("no line with %q in:\n%s", part, out)
	return ""
}

// waitFor calls the service until it answers want, and fails if that takes
// longer than limit.
func waitFor(t *testing.T, curl string, want int, limit time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	for {
		status, _ := exampletest.Do(t, curl)
		if status == want {
			t.Logf("answered %d after %s", want, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d, not %d, %s after the change (limit %s)", status, want, time.Since(start).Round(time.Millisecond), limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAsNewUser follows what the example prints: create a key with the
// apikey command, call the service with it, disable it with the command
// and see the service refuse it. The cache keeps keys for an hour, also
// while the feed is down, so only the polling feed can tell the service.
func TestAsNewUser(t *testing.T) {
	db := filepath.Join(t.TempDir(), "apikey.db")
	wrapFeed, waitConnected := observeFeed(t)
	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		return run(ctx, config{addr: addr, db: db, dbFromFlag: true, prefixes: []string{"ak", "sk"},
			cacheTTL: longTTL, fallbackTTL: longTTL, wrapFeed: wrapFeed}, out)
	}, "the change feed")
	assert.Contains(t, out, "Keys from "+db+" (table api_keys): 0 keys")
	assert.Contains(t, out, "by polling the change log")
	waitConnected()

	create := lineWith(t, out, "create --owner alice --name demo")
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, create, "--json")), &created))

	curlTemplate := lineWith(t, out, "curl -H 'X-API-Key: <key>'")
	curl := strings.Replace(curlTemplate, "<key>", created.Plaintext, 1)
	status, body := exampletest.Do(t, curl)
	require.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `{"key_id":"`+created.Key.ID+`","owner":"alice","name":"demo","scopes":[]}`, body)

	// Refused: a wrong key, a key that was never issued, no key at all,
	// and any other route without a key.
	unknown, _, err := apikey.New(apikey.NewMemoryStore()).Create(context.Background(), apikey.NewKey{Owner: "mallory"})
	require.NoError(t, err)
	base := strings.Fields(curlTemplate)[len(strings.Fields(curlTemplate))-1]
	for _, line := range []string{
		strings.Replace(curlTemplate, "<key>", "ak_wrong", 1),
		strings.Replace(curlTemplate, "<key>", unknown, 1),
		"curl " + base,
		"curl " + base + "admin",
	} {
		status, body := exampletest.Do(t, line)
		assert.Equal(t, http.StatusUnauthorized, status, line)
		assert.Contains(t, body, `"code":-1`)
	}
	status, _ = exampletest.Do(t, strings.Replace(curl, base, base+"admin", 1))
	assert.Equal(t, http.StatusNotFound, status, "with a key, an unknown route is just not found")

	// A key with another accepted prefix works too.
	var other issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, create, "--json", "--prefix", "sk")), &other))
	status, _ = exampletest.Do(t, strings.Replace(curlTemplate, "<key>", other.Plaintext, 1))
	assert.Equal(t, http.StatusOK, status)

	// Changes made by the command apply here within the feed's bound,
	// though the key is cached for an hour.
	disable := strings.Replace(lineWith(t, out, " disable <id>"), "<id>", created.Key.ID, 1)
	assert.Contains(t, apikeyCmd(t, disable), "is now disabled")
	waitFor(t, curl, http.StatusUnauthorized, pollBound)
	apikeyCmd(t, strings.Replace(disable, " disable ", " enable ", 1))
	waitFor(t, curl, http.StatusOK, pollBound)
	apikeyCmd(t, strings.Replace(disable, " disable ", " revoke ", 1))
	waitFor(t, curl, http.StatusUnauthorized, pollBound)
}

// A service started on a database that has keys says how many.
func TestCountsKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "apikey.db")
	for range 2 {
		apikeyCmd(t, "go run ./cmd/apikey --db "+db+" create --owner alice")
	}
	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		return run(ctx, config{addr: addr, db: db, prefixes: []string{"ak"}, cacheTTL: time.Second}, out)
	}, "the cache TTL")
	assert.Contains(t, out, "(table api_keys): 2 keys")
	// The database came from APIKEY_DB here, which the command reads too.
	assert.Contains(t, out, "\n  go run ./cmd/apikey create --owner alice --name demo\n")
}

// When the key table goes away, requests are refused with 503 and the log
// says why.
func TestStoreFailureIsLogged(t *testing.T) {
	db := filepath.Join(t.TempDir(), "apikey.db")
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, "go run ./cmd/apikey --db "+db+" create --owner alice", "--json")), &created))
	key := created.Plaintext
	var logs testkit.LockedBuffer
	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		return run(ctx, config{addr: addr, db: db, dbFromFlag: true, prefixes: []string{"ak"}, cacheTTL: time.Second, logs: &logs}, out)
	}, "the change feed")
	curl := strings.Replace(lineWith(t, out, "curl -H 'X-API-Key: <key>'"), "<key>", key, 1)
	waitFor(t, curl, http.StatusOK, 5*time.Second)
	conn, err := sql.Open("sqlite", db)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Exec("DROP TABLE " + apikey.DefaultSQLTable)
	require.NoError(t, err)
	waitFor(t, curl, http.StatusServiceUnavailable, 5*time.Second)
	assert.Contains(t, logs.String(), "no such table: "+apikey.DefaultSQLTable)
	assert.Contains(t, logs.String(), "cause=\"key lookup\"")
	assert.NotContains(t, logs.String(), key[len(key)-12:], "no key in the log")
}

func TestWalkthroughRedactsPassword(t *testing.T) {
	lines := walkthrough(config{db: "postgres://app:hunter2@db:5432/keys", dbFromFlag: true, cacheTTL: time.Second}, "http://h")
	assert.Equal(t, "go run ./cmd/apikey --db postgres://app:xxxxx@db:5432/keys create --owner alice --name demo", lines[0])
	lines = walkthrough(config{db: "my keys.db", dbFromFlag: true, cacheTTL: time.Second}, "http://h")
	assert.Equal(t, "go run ./cmd/apikey --db 'my keys.db' create --owner alice --name demo", lines[0])
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"ak", []string{"ak"}, false},
		{"ak, sk_live,lbk", []string{"ak", "sk_live", "lbk"}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"ak,9x", nil, true},
	}
	for _, tt := range tests {
		got, err := parsePrefixes(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		assert.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got)
	}
}

func TestRefusesToStart(t *testing.T) {
	ctx := context.Background()
	err := run(ctx, config{addr: "127.0.0.1:0", db: "postgres://u:hunter2@127.0.0.1:1/x", prefixes: []string{"ak"}, cacheTTL: time.Second}, io.Discard)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
	err = run(ctx, config{addr: "127.0.0.1:0", db: filepath.Join(t.TempDir(), "k.db"), prefixes: []string{"ak"}}, io.Discard)
	assert.ErrorContains(t, err, "-cache-ttl")
}

// TestAsNewUserOnPostgres is the same walk on PostgreSQL, where the change
// feed is LISTEN/NOTIFY: with keys cached for an hour, also while the feed
// is down, only the feed can make the service refuse a key the apikey
// command disabled, and it must do so within a second.
func TestAsNewUserOnPostgres(t *testing.T) {
	dsn := testkit.Need(t, testkit.EnvPostgres)
	table := "apikey_walk_" + strings.ToLower(rand.Text()[:10])
	t.Cleanup(func() {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer db.Close()
		assert.NoError(t, sqltest.Drop(context.Background(), db, apikey.Postgres, table))
	})
	wrapFeed, waitConnected := observeFeed(t)
	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		return run(ctx, config{addr: addr, db: dsn, dbFromFlag: true, prefixes: []string{"ak"}, table: table,
			cacheTTL: longTTL, fallbackTTL: longTTL, wrapFeed: wrapFeed}, out)
	}, "the change feed")
	assert.Contains(t, out, "by PostgreSQL LISTEN/NOTIFY")
	waitConnected()

	create := lineWith(t, out, "create --owner alice --name demo")
	assert.Contains(t, create, "--table "+table)
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, create, "--json")), &created))
	curl := strings.Replace(lineWith(t, out, "curl -H 'X-API-Key: <key>'"), "<key>", created.Plaintext, 1)
	status, body := exampletest.Do(t, curl)
	require.Equal(t, http.StatusOK, status, body)

	disable := strings.Replace(lineWith(t, out, " disable <id>"), "<id>", created.Key.ID, 1)
	apikeyCmd(t, disable)
	waitFor(t, curl, http.StatusUnauthorized, pgBound)
	apikeyCmd(t, strings.Replace(disable, " disable ", " enable ", 1))
	waitFor(t, curl, http.StatusOK, pgBound)
}

// TestShutdownAnswersRequestsUnderWay stops the service while a request is
// under way: it is still verified against the database and answered, and
// run returns only after it, having written its last-used time.
func TestShutdownAnswersRequestsUnderWay(t *testing.T) {
	db := filepath.Join(t.TempDir(), "apikey.db")
	entered, release := make(chan struct{}), make(chan struct{})
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Hold") != "" {
				close(entered)
				<-release
			}
			next.ServeHTTP(w, r)
		})
	}
	cancels := make(chan context.CancelFunc, 1)
	returned := make(chan error, 1)
	out := exampletest.Start(t, func(ctx context.Context, addr string, out io.Writer) error {
		ctx, cancel := context.WithCancel(ctx)
		cancels <- cancel
		err := run(ctx, config{addr: addr, db: db, dbFromFlag: true, prefixes: []string{"ak"}, cacheTTL: time.Minute, wrapHandler: hold}, out)
		returned <- err
		return err
	}, "the change feed")
	stop := <-cancels
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, lineWith(t, out, "create --owner alice"), "--json")), &created))

	// A request held before the middleware: its key, never used before,
	// is in no cache, so it is verified against the database.
	req, err := exampletest.Curl(strings.Replace(lineWith(t, out, "curl -H 'X-API-Key: <key>'"), "<key>", created.Plaintext, 1))
	require.NoError(t, err)
	req.Header.Set("X-Hold", "1")
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, string(body), err}
	}()
	<-entered

	stop()
	select {
	case err := <-returned:
		close(release)
		t.Fatalf("run returned (%v) with a request under way", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	a := <-answered
	require.NoError(t, a.err)
	assert.Equal(t, http.StatusOK, a.status, a.body)
	assert.Contains(t, a.body, `"owner":"alice"`)
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return once the last request was answered")
	}

	var shown struct {
		LastUsedAt *time.Time `json:"last_used_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, "go run ./cmd/apikey --db "+db+" show "+created.Key.ID, "--json")), &shown))
	assert.NotNil(t, shown.LastUsedAt, "the last request's use was written at shutdown")
}

// startRunner runs the program as main does, with the flags in args (and
// -addr) and the environment env, in the current directory.
func startRunner(env map[string]string, args ...string) exampletest.RunFunc {
	return func(ctx context.Context, addr string, out io.Writer) error {
		var stderr bytes.Buffer
		if code := start(ctx, append([]string{"-addr", addr}, args...), func(k string) string { return env[k] }, out, &stderr); code != 0 {
			return fmt.Errorf("exit %d: %s", code, stderr.String())
		}
		return nil
	}
}

// With no flag and an empty environment, the service and the apikey
// command it prints share ./apikey.db.
func TestStartDefaultsToAPIKeyDBHere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out := exampletest.Start(t, startRunner(nil), "the change feed")
	assert.Contains(t, out, "Listening on http://127.0.0.1:")
	assert.Contains(t, out, "Keys from apikey.db (table api_keys): 0 keys; accepted prefixes: ak\n")
	assert.FileExists(t, filepath.Join(dir, "apikey.db"))

	create := lineWith(t, out, "create --owner alice --name demo")
	assert.Equal(t, "go run ./cmd/apikey create --owner alice --name demo", create, "no --db: the command finds the same file")
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmd(t, create, "--json")), &created))
	status, body := exampletest.Do(t, strings.Replace(lineWith(t, out, "curl -H 'X-API-Key: <key>'"), "<key>", created.Plaintext, 1))
	assert.Equal(t, http.StatusOK, status, body)
}

// APIKEY_DB names the database when -db does not, and -db wins over it.
func TestStartReadsAPIKEYDB(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{"APIKEY_DB": filepath.Join(t.TempDir(), "from-env.db")}
	out := exampletest.Start(t, startRunner(env), "the change feed")
	assert.Contains(t, out, "Keys from "+env["APIKEY_DB"]+" (table api_keys): 0 keys")
	assert.FileExists(t, env["APIKEY_DB"])
	assert.NoFileExists(t, filepath.Join(dir, "apikey.db"))

	// The printed command has no --db: it reads APIKEY_DB too.
	create := lineWith(t, out, "create --owner alice --name demo")
	assert.NotContains(t, create, "--db")
	var created issuedKey
	require.NoError(t, json.Unmarshal([]byte(apikeyCmdEnv(t, func(k string) string { return env[k] }, create, "--json")), &created))
	status, body := exampletest.Do(t, strings.Replace(lineWith(t, out, "curl -H 'X-API-Key: <key>'"), "<key>", created.Plaintext, 1))
	assert.Equal(t, http.StatusOK, status, body)

	flagDB := filepath.Join(t.TempDir(), "from-flag.db")
	out = exampletest.Start(t, startRunner(env, "-db", flagDB), "the change feed")
	assert.Contains(t, out, "Keys from "+flagDB+" (table api_keys): 0 keys")
	assert.Contains(t, lineWith(t, out, "create --owner alice --name demo"), "--db "+flagDB)
}

func TestStartCommandLine(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tt := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"-h"}, 0, "-cache-ttl"},
		{[]string{"-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"-prefixes", "ak,9x"}, 2, "-prefixes"},
		{[]string{"keys.db"}, 2, `unexpected arguments: ["keys.db"]`},
		{[]string{"-cache-ttl", "0"}, 1, "-cache-ttl must be positive"},
	} {
		var stdout, stderr bytes.Buffer
		code := start(context.Background(), tt.args, func(string) string { return "" }, &stdout, &stderr)
		assert.Equal(t, tt.code, code, "%v: %s", tt.args, stderr.String())
		assert.Contains(t, stderr.String(), tt.says, tt.args)
		assert.Empty(t, stdout.String(), tt.args)
	}
}

// TestNoPrincipalIsRefused: a request that reaches whoami with no verified
// key (its route skipped by mistake, or mounted outside the middleware)
// is refused, not served as an empty principal.
func TestNoPrincipalIsRefused(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{"whoami": whoami} {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, http.StatusUnauthorized, w.Code, name)
		assert.JSONEq(t, `{"code":-1,"msg":"Missing API key"}`, w.Body.String(), name)
	}
}
