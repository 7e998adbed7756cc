package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/dsn"
	"github.com/go-apikey/apikey/internal/keyjson"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// result is what one run of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

// cmdEnv runs the command against one database and table, as a user with
// a clean environment would.
type cmdEnv struct {
	t     *testing.T
	db    string
	table string
	env   map[string]string
}

func newEnv(t *testing.T) *cmdEnv {
	return &cmdEnv{t: t, db: filepath.Join(t.TempDir(), "keys.db"), table: apikey.DefaultSQLTable}
}

// run runs the command with --db and --table appended.
func (c *cmdEnv) run(args ...string) result {
	c.t.Helper()
	return c.runRaw(append(args, "--db", c.db, "--table", c.table)...)
}

// runRaw runs the command with exactly args.
func (c *cmdEnv) runRaw(args ...string) result {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr, func(name string) string { return c.env[name] })
	return result{code, stdout.String(), stderr.String()}
}

// ok runs the command and fails the test unless it succeeded with nothing
// on stderr but, when it printed a new key as JSON, the notice that the
// key will not be shown again.
func (c *cmdEnv) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	require.Equal(c.t, ExitOK, r.code, "apikey %v\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
	wantStderr := ""
	if (slices.Contains(args, "create") || slices.Contains(args, "rotate")) && slices.Contains(args, "--json") {
		wantStderr = secretNotice
	}
	stderr := r.stderr
	if slices.Contains(args, "create") {
		// The first create on a new database makes the table, and says so.
		stderr = strings.TrimPrefix(stderr, fmt.Sprintf(tableCreated, c.table, dbopen.Redact(c.db)))
	}
	assert.Equal(c.t, wantStderr, stderr, "apikey %v", args)
	return r.stdout
}

// record is a key as --json prints it (keyjson.Key), in the part the tests
// read.
type record struct {
	ID            string             `json:"id"`
	Owner         string             `json:"owner"`
	Name          string             `json:"name"`
	Description   string             `json:"description"`
	Scopes        []string           `json:"scopes"`
	Metadata      map[string]string  `json:"metadata"`
	Start         string             `json:"start"`
	Enabled       bool               `json:"enabled"`
	State         string             `json:"state"`
	CreatedAt     time.Time          `json:"created_at"`
	UpdatedAt     time.Time          `json:"updated_at"`
	ExpiresAt     *time.Time         `json:"expires_at"`
	LastUsedAt    *time.Time         `json:"last_used_at"`
	RateLimit     *keyjson.RateLimit `json:"rate_limit"`
	AllowedIPs    []string           `json:"allowed_ips"`
	RemainingUses *int64             `json:"remaining_uses"`
	RotatedTo     *string            `json:"rotated_to"`
}

// issued is create's or rotate's JSON output, the admin API's shape: the
// plaintext, and the record under "key" (whose fields k.ID and the like
// reach).
type issued struct {
	Plaintext    string `json:"plaintext"`
	record       `json:"key"`
	Replaces     string     `json:"replaces"`
	OldExpiresAt *time.Time `json:"old_expires_at"`
}

func (c *cmdEnv) create(args ...string) issued {
	c.t.Helper()
	var k issued
	out := c.ok(append([]string{"create", "--json"}, args...)...)
	require.NoError(c.t, json.Unmarshal([]byte(out), &k), out)
	return k
}

// createWarned is create for a key whose prefix no key in the table has:
// the command warns that a service may refuse it (prefixWarning).
func (c *cmdEnv) createWarned(args ...string) issued {
	c.t.Helper()
	r := c.run(append([]string{"create", "--json"}, args...)...)
	require.Equal(c.t, ExitOK, r.code, r.stderr)
	assert.Contains(c.t, r.stderr, "apikey: warning: no key in table "+c.table+" has prefix")
	var k issued
	require.NoError(c.t, json.Unmarshal([]byte(r.stdout), &k), r.stdout)
	return k
}

// manager is what a service on the same database would verify keys with.
func (c *cmdEnv) manager(opts ...apikey.Option) (*apikey.Manager, *apikey.SQLStore) {
	c.t.Helper()
	db, dialect, err := dbopen.Open(context.Background(), c.db)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { db.Close() })
	store, err := apikey.NewSQLStore(db, dialect, apikey.WithTable(c.table))
	require.NoError(c.t, err)
	m := apikey.New(store, append(opts, apikey.WithLastUsedInterval(0))...)
	c.t.Cleanup(func() { m.Close() })
	return m, store
}

func (c *cmdEnv) verify(key string, opts ...apikey.Option) (apikey.Principal, error) {
	c.t.Helper()
	m, _ := c.manager(opts...)
	return m.Verify(context.Background(), key)
}

func TestHelp(t *testing.T) {
	c := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Commands:"},
		{[]string{"-h"}, "Commands:"},
		{[]string{"--help"}, "Commands:"},
		{[]string{"help", "create"}, "Usage: apikey create [flags]"},
		{[]string{"create", "-h"}, "--ttl duration"},
		{[]string{"show", "--help"}, "Usage: apikey show [flags] ID"},
		{[]string{"rotate", "X", "-h"}, "--grace duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := c.runRaw(tt.args...)
			assert.Equal(t, ExitOK, r.code)
			assert.Contains(t, r.stdout, tt.want)
			assert.Contains(t, r.stdout, "--db SETTING", "every help names the shared flags")
			assert.Empty(t, r.stderr)
		})
	}
	r := c.runRaw("help")
	for _, cmd := range commands {
		assert.Contains(t, r.stdout, "\n  "+cmd.name+" ", "usage lists %s", cmd.name)
	}
	assert.Contains(t, r.stdout, "SHA-256", "the hasher limitation is documented")
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "help opens no database")
}

func TestUsageErrors(t *testing.T) {
	c := newEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage:"},
		{"unknown command", []string{"frob"}, `unknown command "frob"`},
		{"help for unknown command", []string{"help", "frob"}, `unknown command "frob"`},
		{"unknown flag", []string{"list", "--colour"}, "apikey list: unknown flag --colour\n"},
		{"unknown flag, one dash", []string{"list", "-colour"}, "apikey list: unknown flag --colour\n"},
		{"unknown global flag", []string{"--colour", "list"}, "apikey: unknown flag --colour\n"},
		{"unknown flag after help", []string{"help", "list", "--colour"}, "apikey: unknown flag --colour\n"},
		{"not a number", []string{"list", "--limit", "ten"}, `apikey list: invalid value "ten" for --limit: want a whole number` + "\n"},
		{"owner missing", []string{"create", "--name", "x"}, "--owner is required"},
		{"two expiries", []string{"create", "--owner", "a", "--expires-in", "1h", "--expires-at", "2099-01-01T00:00:00Z"}, "not both"},
		{"bad lifetime", []string{"create", "--owner", "a", "--expires-in", "soon"}, "30d, 720h, 90m or 30s"},
		{"bad days", []string{"create", "--owner", "a", "--expires-in", "xd"}, "30d, 720h, 90m or 30s"},
		{"bad time", []string{"create", "--owner", "a", "--expires-at", "tomorrow"}, "RFC 3339"},
		{"meta without =", []string{"create", "--owner", "a", "--meta", "team"}, "key=value"},
		{"meta twice", []string{"create", "--owner", "a", "--meta", "k=1", "--meta", "k=2"}, `"k" given twice`},
		{"create takes no ID", []string{"create", "--owner", "a", "ID"}, `unexpected argument "ID"`},
		{"show without ID", []string{"show"}, "missing ID"},
		{"show with two IDs", []string{"show", "A", "B"}, `unexpected argument "B"`},
		{"disable without ID", []string{"disable"}, "missing ID"},
		{"enable without ID", []string{"enable"}, "missing ID"},
		{"revoke without ID", []string{"revoke"}, "missing ID"},
		{"rotate without ID", []string{"rotate", "--grace", "1h"}, "missing ID"},
		{"bad grace", []string{"rotate", "A", "--grace", "long"}, "30d, 720h, 90m or 30s"},
		{"all with limit", []string{"list", "--all", "--limit", "5"}, "--all"},
		{"zero limit", []string{"list", "--limit", "0"}, "--limit must be 1 to 1000"},
		{"limit over the most", []string{"list", "--limit", "100000"}, "--limit must be 1 to 1000 (--all lists every key)"},
		{"bad bool", []string{"list", "--json=maybe"}, `apikey list: invalid value "maybe" for --json: want true or false` + "\n"},
		{"bad bool before the command", []string{"--json=maybe", "list"}, `apikey: invalid value "maybe" for --json: want true or false` + "\n"},
		{"bad value", []string{"create", "--owner", "a", "--meta", "team"}, `apikey create: invalid value "team" for --meta: want key=value` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(tt.args...)
			assert.Equal(t, ExitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
			assert.Empty(t, r.stdout)
			// Flags are spelled --name, as the help spells them.
			assert.NotRegexp(t, `(^|[\s"'(])-[a-z]`, r.stderr)
		})
	}
	r := c.runRaw("list", "--db", c.db, "--after")
	assert.Equal(t, ExitUsage, r.code)
	assert.Equal(t, "apikey list: --after needs a value\nRun 'apikey help list' for usage.\n", r.stderr)
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "usage errors are found before the database is opened")
}

func TestCreateText(t *testing.T) {
	c := newEnv(t)
	out := c.ok("create", "--owner", "alice", "--name", "ci", "--description", "CI job",
		"--scope", "bots:read,bots:write", "--scope", "reports:read", "--meta", "team=infra", "--meta", "env=prod")
	assert.Contains(t, out, "Store it now: it will not be shown again.")
	key := regexp.MustCompile(`(?m)^    (ak_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, key, "the key is printed on a line of its own:\n%s", out)
	id := regexp.MustCompile(`(?m)^ID:\s+(\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, id, "the key ID is printed:\n%s", out)
	assert.Equal(t, 1, strings.Count(out, key[1]), "the key is printed once")

	p, err := c.verify(key[1])
	require.NoError(t, err, "the printed key verifies on the same database")
	assert.Equal(t, apikey.KindKey, p.Kind())
	assert.Equal(t, []string{id[1], "alice", "ci"}, []string{p.KeyID, p.Owner, p.Name})
	assert.Equal(t, []string{"bots:read", "bots:write", "reports:read"}, p.Scopes())
	assert.Equal(t, map[string]string{"team": "infra", "env": "prod"}, p.Metadata())
}

func TestCreateJSON(t *testing.T) {
	c := newEnv(t)
	before := time.Now()
	out := c.ok("create", "--json", "--owner", "alice", "--ttl", "30d")
	var top map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &top), out)
	assert.ElementsMatch(t, []string{"plaintext", "key"}, slices.Collect(maps.Keys(top)),
		"the admin API's shape: the plaintext, and the record under key")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(top["key"], &raw), out)
	for _, field := range []string{"id", "owner", "name", "description", "scopes", "metadata", "start",
		"enabled", "state", "created_at", "updated_at", "expires_at", "last_used_at",
		"rate_limit", "allowed_ips", "remaining_uses", "rotated_to", "created_by", "disabled_by"} {
		assert.Contains(t, raw, field)
	}
	assert.NotContains(t, raw, "digest")
	assert.NotContains(t, raw, "hash")
	assert.NotContains(t, out, "replaces", "only rotate says what a key replaces")
	assert.Nil(t, raw["last_used_at"])
	assert.Equal(t, []any{}, raw["scopes"], "empty lists are [] for scripts")
	assert.Equal(t, map[string]any{}, raw["metadata"])
	// Field for field what the admin API answers a create with.
	var api struct {
		Plaintext string      `json:"plaintext"`
		Key       keyjson.Key `json:"key"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&api))

	var k issued
	require.NoError(t, json.Unmarshal([]byte(out), &k))
	assert.Equal(t, "enabled", k.State)
	assert.True(t, k.Enabled)
	assert.True(t, strings.HasPrefix(k.Plaintext, k.Start), "start %q is the start of the key", k.Start)
	require.NotNil(t, k.ExpiresAt)
	assert.WithinDuration(t, before.Add(30*24*time.Hour), *k.ExpiresAt, time.Minute)
	p, err := c.verify(k.Plaintext)
	require.NoError(t, err)
	assert.Equal(t, k.ID, p.KeyID)

	k = c.create("--owner", "bob", "--expires-at", "2099-01-31T00:00:00Z")
	require.NotNil(t, k.ExpiresAt)
	assert.Equal(t, time.Date(2099, 1, 31, 0, 0, 0, 0, time.UTC), *k.ExpiresAt)
	k = c.create("--owner", "carol")
	assert.Nil(t, k.ExpiresAt, "no expiry is null")
}

func TestCreateWithPrefix(t *testing.T) {
	c := newEnv(t)
	k := c.createWarned("--owner", "alice", "--prefix", "sk_live")
	assert.True(t, strings.HasPrefix(k.Plaintext, "sk_live_"), k.Plaintext)
	_, err := c.verify(k.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrMalformedKey, "a service must accept the prefix")
	_, err = c.verify(k.Plaintext, apikey.WithAcceptedPrefixes("sk_live"))
	assert.NoError(t, err)
}

// Values the command line carries well but the library refuses: exit 1.
func TestCreateRefused(t *testing.T) {
	c := newEnv(t)
	c.ok("migrate") // so that stderr holds only the refusals
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"scope with a space", []string{"--scope", "bots read"}, "invalid input"},
		{"expiry in the past", []string{"--expires-at", "2001-01-01T00:00:00Z"}, "not in the future"},
		{"negative lifetime", []string{"--expires-in", "-1h"}, "not in the future"},
		{"bad prefix", []string{"--prefix", "9x"}, "prefix"},
		{"control character", []string{"--name", "a\x1b[31mb"}, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(append([]string{"create", "--owner", "alice"}, tt.args...)...)
			assert.Equal(t, ExitFailed, r.code)
			assert.Contains(t, r.stderr, tt.want)
			assert.True(t, strings.HasPrefix(r.stderr, "apikey create: "), r.stderr)
			assert.Empty(t, r.stdout)
		})
	}
	c.table = "bad-name"
	r := c.run("create", "--owner", "alice")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "table name")
	c.table = apikey.DefaultSQLTable
	assert.Contains(t, c.ok("list"), "No keys.", "nothing was created by the refused commands")
}

// expire makes a key expired, as time would, by writing its expiry.
func expire(t *testing.T, store *apikey.SQLStore, id string) {
	_, err := store.Update(context.Background(), id, func(k *apikey.Key) error {
		k.ExpiresAt = time.Now().Add(-time.Hour)
		return nil
	})
	require.NoError(t, err)
}

func TestListAndShow(t *testing.T) {
	c := newEnv(t)
	a1 := c.create("--owner", "alice", "--name", "ci")
	a2 := c.create("--owner", "alice")
	b1 := c.create("--owner", "bob", "--name", "old")
	c.ok("disable", a2.ID)
	_, store := c.manager()
	expire(t, store, b1.ID)

	out := c.ok("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	assert.Regexp(t, `^ID\s+START\s+OWNER\s+NAME\s+STATE\s+EXPIRES\s+LAST USED$`, lines[0])
	assert.Regexp(t, `^`+a1.ID+`\s+`+a1.Start+`\s+alice\s+ci\s+enabled\s+never\s+never$`, lines[1])
	assert.Regexp(t, `^`+a2.ID+`\s+`+a2.Start+`\s+alice\s+-\s+disabled\s+never\s+never$`, lines[2])
	assert.Regexp(t, `^`+b1.ID+`\s+`+b1.Start+`\s+bob\s+old\s+expired\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+never$`, lines[3])

	out = c.ok("list", "--owner", "bob")
	assert.Contains(t, out, b1.ID)
	assert.NotContains(t, out, a1.ID)
	assert.Equal(t, "No keys for nobody.\n", c.ok("list", "--owner", "nobody"))

	var listed []record
	require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--json")), &listed))
	require.Len(t, listed, 3)
	assert.Equal(t, []string{"enabled", "disabled", "expired"}, []string{listed[0].State, listed[1].State, listed[2].State})
	assert.NotContains(t, c.ok("list", "--json"), "plaintext", "list never prints a key")
	assert.Equal(t, "[]\n", c.ok("list", "--json", "--owner", "nobody"))

	out = c.ok("show", a1.ID)
	for _, want := range []string{
		"ID:          " + a1.ID, "Start:       " + a1.Start, "Owner:       alice", "Name:        ci",
		"State:       enabled", "Scopes:      none", "Expires:     never", "Last used:   never",
	} {
		assert.Contains(t, out, want+"\n")
	}
	var shown record
	require.NoError(t, json.Unmarshal([]byte(c.ok("show", b1.ID, "--json")), &shown))
	assert.Equal(t, "expired", shown.State)
	assert.Equal(t, b1.ID, shown.ID)
	assert.Equal(t, "bob", shown.Owner)
}

func TestListPaging(t *testing.T) {
	c := newEnv(t)
	var ids []string
	for range 5 {
		ids = append(ids, c.create("--owner", "alice").ID)
	}
	// The hint repeats the flags that chose the database and the list.
	where := " --db " + c.db + " --table " + c.table
	r := c.run("list", "--limit", "2")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, 3, strings.Count(r.stdout, "\n"), "a header and two keys:\n%s", r.stdout)
	assert.Equal(t, "More keys follow: apikey list"+where+" --limit 2 --after "+ids[1]+", or --all.\n", r.stderr)

	r = c.run("list", "--limit", "2", "--after", ids[1], "--json")
	var page []record
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page), "the hint stays off stdout")
	require.Len(t, page, 2)
	assert.Equal(t, []string{ids[2], ids[3]}, []string{page[0].ID, page[1].ID})

	// Newest first, and the hint for the next page keeps the flags that
	// chose the list.
	r = c.run("list", "--limit", "2", "--newest-first", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	assert.Equal(t, []string{ids[4], ids[3]}, []string{page[0].ID, page[1].ID})
	assert.Equal(t, "More keys follow: apikey list"+where+" --newest-first --limit 2 --json --after "+ids[3]+", or --all.\n", r.stderr)
	r = c.run("list", "--limit", "2", "--newest-first", "--after", ids[3], "--owner", "alice", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	assert.Equal(t, []string{ids[2], ids[1]}, []string{page[0].ID, page[1].ID})
	assert.Equal(t, "More keys follow: apikey list"+where+" --owner alice --newest-first --limit 2 --json --after "+ids[1]+", or --all.\n", r.stderr)

	// --all follows every page; make the pages small to see it do so.
	old := allPageSize
	allPageSize = 2
	t.Cleanup(func() { allPageSize = old })
	var all []record
	require.NoError(t, json.Unmarshal([]byte(c.ok("list", "--all", "--json")), &all))
	var got []string
	for _, k := range all {
		got = append(got, k.ID)
	}
	assert.Equal(t, ids, got)

	// An owner the shell would split is quoted in the hint.
	odd := c.create("--owner", "o'brien & co").ID
	c.create("--owner", "o'brien & co")
	r = c.run("list", "--limit", "1", "--owner", "o'brien & co")
	assert.Equal(t, "More keys follow: apikey list"+where+` --owner 'o'\''brien & co' --limit 1 --after `+odd+", or --all.\n", r.stderr)
}

// TestNoSecretsInOutput runs every command that prints a key's record and
// looks for the key, its secret part and its digest in every encoding.
func TestNoSecretsInOutput(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice", "--name", "ci", "--scope", "bots:read")
	other := c.create("--owner", "bob")
	digest := sha256.Sum256([]byte(k.Plaintext))
	secrets := map[string]string{
		"key":               k.Plaintext,
		"secret part":       strings.TrimPrefix(k.Plaintext, "ak_")[:20],
		"hex digest":        hex.EncodeToString(digest[:]),
		"HEX digest":        strings.ToUpper(hex.EncodeToString(digest[:])),
		"base64 digest":     base64.StdEncoding.EncodeToString(digest[:]),
		"raw base64 digest": base64.RawStdEncoding.EncodeToString(digest[:]),
		"url base64 digest": base64.RawURLEncoding.EncodeToString(digest[:]),
		"digest bytes":      string(digest[:]),
	}
	var outputs []string
	for _, args := range [][]string{
		{"list"}, {"list", "--json"}, {"list", "--all"}, {"list", "--owner", "alice", "--json"},
		{"show", k.ID}, {"show", k.ID, "--json"},
		{"disable", k.ID}, {"disable", k.ID, "--json"}, {"enable", k.ID}, {"enable", k.ID, "--json"},
		{"migrate"}, {"migrate", "--json"},
		{"rotate", other.ID, "--grace", "1h"}, {"rotate", other.ID, "--json"},
		{"update", k.ID, "--name", "x"}, {"update", k.ID, "--ttl", "1d", "--json"},
		{"revoke", k.ID}, {"revoke", k.ID, "--json"}, {"show", k.ID},
	} {
		r := c.run(args...)
		outputs = append(outputs, r.stdout, r.stderr)
	}
	all := strings.Join(outputs, "\n")
	require.Contains(t, all, k.ID, "the outputs are about the key")
	for what, s := range secrets {
		// Not NotContains: its failure message would print every output.
		assert.False(t, strings.Contains(all, s), "output holds the %s", what)
	}
	assert.NotContains(t, all, `"digest"`)
	assert.NotContains(t, all, `"hash"`)
	assert.NotContains(t, all, "sha256")
}

func TestDisableEnable(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	out := c.ok("disable", k.ID)
	assert.Equal(t, "Key "+k.ID+" ("+k.Start+") is now disabled.\n", out)
	_, err := c.verify(k.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
	c.ok("disable", k.ID) // disabling twice is not an error

	var j record
	require.NoError(t, json.Unmarshal([]byte(c.ok("enable", k.ID, "--json")), &j))
	assert.Equal(t, "enabled", j.State)
	assert.True(t, j.Enabled)
	_, err = c.verify(k.Plaintext)
	assert.NoError(t, err)

	// Enabling an expired key says it is still refused.
	_, store := c.manager()
	expire(t, store, k.ID)
	out = c.ok("enable", k.ID)
	assert.Contains(t, out, "is now expired")
	assert.Contains(t, out, "still refused")

	for _, cmd := range []string{"disable", "enable"} {
		r := c.run(cmd, "01NOSUCHKEY")
		assert.Equal(t, ExitFailed, r.code)
		assert.Equal(t, "apikey "+cmd+": key not found: ID 01NOSUCHKEY\n", r.stderr)
	}
}

func TestRotate(t *testing.T) {
	c := newEnv(t)
	old := c.create("--owner", "alice", "--name", "ci", "--scope", "bots:read", "--meta", "team=infra")

	out := c.ok("rotate", old.ID, "--grace", "1h")
	assert.Contains(t, out, "Store it now: it will not be shown again.")
	newKey := regexp.MustCompile(`(?m)^    (ak_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, newKey, out)
	assert.Regexp(t, `The old key `+old.ID+` works until \S+Z\.`, out)

	p, err := c.verify(newKey[1])
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Owner)
	assert.Equal(t, []string{"bots:read"}, p.Scopes())
	assert.Equal(t, map[string]string{"team": "infra"}, p.Metadata())
	assert.NotEqual(t, old.ID, p.KeyID)
	_, err = c.verify(old.Plaintext)
	assert.NoError(t, err, "the old key works during the grace period")
	var shown record
	require.NoError(t, json.Unmarshal([]byte(c.ok("show", old.ID, "--json")), &shown))
	require.NotNil(t, shown.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(time.Hour), *shown.ExpiresAt, time.Minute)

	// Without --grace the old key stops at once.
	second := c.create("--owner", "bob")
	var rotated issued
	require.NoError(t, json.Unmarshal([]byte(c.ok("rotate", second.ID, "--json")), &rotated))
	assert.Equal(t, second.ID, rotated.Replaces)
	require.NotNil(t, rotated.OldExpiresAt)
	_, err = c.verify(second.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrKeyExpired)
	_, err = c.verify(rotated.Plaintext)
	assert.NoError(t, err)

	// An expired key cannot be rotated; an unknown one is not found.
	r := c.run("rotate", second.ID)
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "expired")
	assert.Empty(t, r.stdout)
	r = c.run("rotate", "01NOSUCHKEY")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "not found")
	r = c.run("rotate", old.ID, "--grace", "-1h")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "negative grace")
}

func TestRotateKeepsPrefix(t *testing.T) {
	c := newEnv(t)
	old := c.createWarned("--owner", "alice", "--prefix", "sk_live")
	var next issued
	require.NoError(t, json.Unmarshal([]byte(c.ok("rotate", old.ID, "--json", "--grace", "1h")), &next))
	assert.True(t, strings.HasPrefix(next.Plaintext, "sk_live_"), "rotated %s into %s", old.Plaintext, next.Plaintext)
	_, err := c.verify(next.Plaintext, apikey.WithPrefix("sk_live"))
	assert.NoError(t, err)

	r := c.run("rotate", next.ID, "--json", "--prefix", "ak")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, `apikey: warning: no key in table api_keys has prefix "ak"; its keys have "sk_live". `+
		`A service accepts only the prefixes it is configured with (apikey.WithPrefix, WithAcceptedPrefixes): `+
		`check that yours accepts "ak", or give --prefix sk_live`+"\n"+secretNotice, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &next))
	assert.True(t, strings.HasPrefix(next.Plaintext, "ak_"), "--prefix changes the prefix: %s", next.Plaintext)
}

func TestRevoke(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	assert.Equal(t, "Key "+k.ID+" revoked.\n", c.ok("revoke", k.ID))
	_, err := c.verify(k.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey)

	r := c.run("show", k.ID)
	assert.Equal(t, ExitFailed, r.code)
	assert.Equal(t, "apikey show: key not found: ID "+k.ID+"\n", r.stderr)
	assert.Empty(t, r.stdout)
	r = c.run("revoke", k.ID)
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "not found")
}

func TestMigrate(t *testing.T) {
	c := newEnv(t)
	assert.Equal(t, "Table api_keys is ready in "+c.db+".\n", c.ok("migrate"))
	c.ok("migrate") // idempotent
	c.table = "partner_keys"
	c.ok("migrate")
	k := c.create("--owner", "alice")
	assert.Contains(t, c.ok("list"), k.ID)
	_, err := c.verify(k.Plaintext)
	assert.NoError(t, err)
	c.table = apikey.DefaultSQLTable
	assert.NotContains(t, c.ok("list"), k.ID, "--table keeps keys apart")
}

func TestDatabaseSetting(t *testing.T) {
	dir := t.TempDir()
	fromEnv := filepath.Join(dir, "env.db")
	fromFlag := filepath.Join(dir, "flag.db")
	c := &cmdEnv{t: t, env: map[string]string{dbopen.EnvVar: fromEnv}}

	// Shared flags work before the command name too.
	r := c.runRaw("--json", "create", "--owner", "alice")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.FileExists(t, fromEnv, "APIKEY_DB names the database")
	assert.True(t, json.Valid([]byte(r.stdout)), "--json before the command applies to it")

	r = c.runRaw("--db", fromFlag, "create", "--owner", "bob")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.FileExists(t, fromFlag, "--db wins over APIKEY_DB")

	// With neither, ./apikey.db.
	t.Chdir(dir)
	c.env = nil
	r = c.runRaw("create", "--owner", "carol")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.FileExists(t, filepath.Join(dir, dbopen.Default))
	r = c.runRaw("list")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "carol")
}

func TestUnreachableDatabase(t *testing.T) {
	c := newEnv(t)
	for _, setting := range []string{
		"postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable",
		"mysql://u:hunter2@127.0.0.1:1/x",
		filepath.Join(t.TempDir(), "no", "such", "dir", "keys.db"),
		"root:hunter2@tcp(127.0.0.1:1)/x",
	} {
		t.Run(setting, func(t *testing.T) {
			c.db = setting
			for _, cmd := range []string{"list", "create"} {
				r := c.run(cmd, "--owner", "alice")
				assert.Equal(t, ExitFailed, r.code)
				want := "apikey " + cmd + ": database "
				if cmd == "list" && strings.HasSuffix(setting, ".db") {
					// Nothing to connect to: list creates no file.
					want = "apikey list: no table api_keys in " + setting + " (no such file)"
				}
				assert.True(t, strings.HasPrefix(r.stderr, want), r.stderr)
				assert.NotContains(t, r.stderr, "hunter2")
				assert.Empty(t, r.stdout)
			}
		})
	}
}

// TestServers runs a few commands against PostgreSQL and MySQL when their
// DSNs are set, through --db as a user would give them.
func TestServers(t *testing.T) {
	servers := []struct {
		name, env string
		setting   func(t *testing.T, setting string) string
	}{
		{"postgres", testkit.EnvPostgres, func(_ *testing.T, s string) string { return s }},
		// Both forms a user may give, whichever the variable holds.
		{"mysql URL", testkit.EnvMySQL, mysqlURL},
		{"mysql DSN", testkit.EnvMySQL, mysqlDSN},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			setting := s.setting(t, testkit.Need(t, s.env))
			c := &cmdEnv{t: t, db: setting, table: "apikey_cli_" + strings.ToLower(rand.Text()[:10])}
			t.Cleanup(func() {
				db, dialect, err := dbopen.Open(context.Background(), c.db)
				require.NoError(t, err)
				defer db.Close()
				assert.NoError(t, sqltest.Drop(context.Background(), db, dialect, c.table))
			})
			k := c.create("--owner", "alice", "--scope", "bots:read")
			p, err := c.verify(k.Plaintext)
			require.NoError(t, err)
			assert.Equal(t, "alice", p.Owner)
			assert.Contains(t, c.ok("list"), k.ID)
			c.ok("disable", k.ID)
			_, err = c.verify(k.Plaintext)
			assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
			c.ok("enable", k.ID)
			var rotated issued
			require.NoError(t, json.Unmarshal([]byte(c.ok("rotate", k.ID, "--grace", "1h", "--json")), &rotated))
			_, err = c.verify(rotated.Plaintext)
			assert.NoError(t, err)
			c.ok("revoke", rotated.ID)
			assert.Equal(t, ExitFailed, c.run("show", rotated.ID).code)
		})
	}
}

// mysqlDSN returns a MySQL setting, a URL or a DSN, as a go-sql-driver DSN.
func mysqlDSN(t *testing.T, setting string) string {
	t.Helper()
	d, err := dsn.MySQL(setting)
	require.NoError(t, err)
	return d
}

// mysqlURL returns a MySQL setting, a URL or a DSN, as the mysql:// URL a
// user would type.
func mysqlURL(t *testing.T, setting string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(mysqlDSN(t, setting))
	require.NoError(t, err)
	u := url.URL{Scheme: "mysql", User: url.User(cfg.User), Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	}
	return u.String()
}

// The hint for list's next page never repeats a --db holding a password.
func TestNextPageHintHidesPasswords(t *testing.T) {
	for db, want := range map[string]string{
		"postgres://app:s3cret@db.internal/keys": "--db '<your --db>'",
		"app:s3cret@tcp(db:3306)/keys":           "--db '<your --db>'",
		"host=db sslpassword=s3cret dbname=keys": "--db '<your --db>'",
		"postgres://db.internal/keys":            "--db postgres://db.internal/keys",
		"/var/lib/apikey/keys.db":                "--db /var/lib/apikey/keys.db",
	} {
		o := &options{db: db, set: map[string]bool{"db": true}}
		hint := nextPageHint(o, "01NEXT")
		assert.Contains(t, hint, want, db)
		assert.NotContains(t, hint, "s3cret", db)
	}
}
