package cli

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/testkit"
)

// tables returns the tables of c's database, without creating it.
func (c *cmdEnv) tables() []string {
	c.t.Helper()
	db, _, err := dbopen.OpenMode(context.Background(), c.db, dbopen.ReadOnly)
	require.NoError(c.t, err)
	defer db.Close()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	require.NoError(c.t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(c.t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(c.t, rows.Err())
	return names
}

// files returns the names and contents of the files in dir.
func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = b
	}
	return out
}

// Only create, serve and migrate make a database or a table. The others
// say the table is missing, so a mistyped --db or --table creates nothing:
// list and show only read, and the commands that change keys need the
// table to be there.
func TestCommandsCreateNothing(t *testing.T) {
	c := newEnv(t)
	const id = "01JDXW6E4Z9V1Q8G3K2M5N7P0R"
	others := [][]string{{"list"}, {"list", "--all", "--json"}, {"show", id}, {"disable", id},
		{"enable", id}, {"rotate", id}, {"rotate", id, "--prefix", "sk"}, {"revoke", id}, {"update", id, "--ttl", "1d"}}

	// No file: none is made.
	for _, args := range others {
		r := c.run(args...)
		assert.Equal(t, ExitFailed, r.code, "%v: %s", args, r.stderr)
		assert.Equal(t, "apikey "+args[0]+": no table api_keys in "+c.db+" (no such file); run apikey migrate\n", r.stderr, args)
		assert.Empty(t, r.stdout, args)
		_, err := os.Stat(c.db)
		require.True(t, os.IsNotExist(err), "%v made the database", args)
	}

	// A database with its table: a mistyped --table is not made.
	k := c.create("--owner", "alice")
	want := c.tables()
	c.table = "api_key"
	for _, args := range others {
		r := c.run(args...)
		assert.Equal(t, ExitFailed, r.code, "%v: %s", args, r.stderr)
		assert.Equal(t, "apikey "+args[0]+": no table api_key in "+c.db+"; run apikey migrate\n", r.stderr, args)
		assert.Empty(t, r.stdout, args)
	}
	assert.Equal(t, want, c.tables(), "no table was made")

	// list and show change no byte of the database, nor add a file.
	c.table = apikey.DefaultSQLTable
	dir := filepath.Dir(c.db)
	before := files(t, dir)
	c.ok("list")
	c.ok("show", k.ID)
	assert.Equal(t, before, files(t, dir))
}

// create and serve make what is missing, and say so once; migrate says
// what it always said.
func TestCreateMakesTheTable(t *testing.T) {
	c := newEnv(t)
	r := c.run("create", "--owner", "alice")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "apikey: table api_keys did not exist in "+c.db+", so it was created\n", r.stderr)
	r = c.run("create", "--owner", "bob")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr, "only a new table is announced")

	c.table = "api_key"
	r = c.run("create", "--owner", "alice")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, "apikey: table api_key did not exist in "+c.db+", so it was created\n", r.stderr,
		"a mistyped --table is made, and the user told")
	assert.Contains(t, c.tables(), "api_key")

	c.table = "partner_keys"
	assert.Equal(t, "Table partner_keys is ready in "+c.db+".\n", c.ok("migrate"))
	assert.Contains(t, c.ok("list"), "No keys.")
}

// On PostgreSQL and MySQL too, list and disable on a missing table say so
// and create nothing.
func TestServersMissingTable(t *testing.T) {
	for name, env := range map[string]string{"postgres": testkit.EnvPostgres, "mysql": testkit.EnvMySQL} {
		t.Run(name, func(t *testing.T) {
			setting := testkit.Need(t, env)
			table := "apikey_cli_missing_" + strings.ToLower(rand.Text()[:10])
			c := &cmdEnv{t: t, db: setting, table: table}
			for _, args := range [][]string{{"list"}, {"show", "01JDXW6E4Z9V1Q8G3K2M5N7P0R"}, {"disable", "01JDXW6E4Z9V1Q8G3K2M5N7P0R"}} {
				r := c.run(args...)
				assert.Equal(t, ExitFailed, r.code, r.stderr)
				assert.Equal(t, "apikey "+args[0]+": no table "+table+" in "+dbopen.Redact(setting)+"; run apikey migrate\n", r.stderr)
			}
			db, d, err := dbopen.Open(context.Background(), setting)
			require.NoError(t, err)
			defer db.Close()
			ok, err := dbopen.TableExists(context.Background(), db, d, table)
			require.NoError(t, err)
			assert.False(t, ok, "no table was made")
		})
	}
}

// A Redis password is masked in every message, whether the URL parses or
// not, as a database's is.
func TestRedisPasswordMasked(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	for _, tt := range []struct {
		setting string
		code    int
		want    string
	}{
		{"redis://:s3cret@host:xx", ExitFailed,
			`apikey disable: invalid input: Redis setting redis://xxxxx@host:xx: invalid port ":xx" after host` + "\n"},
		{"rediss://:s3cret@host:xx/0", ExitFailed,
			`apikey disable: invalid input: Redis setting rediss://xxxxx@host:xx/0: invalid port ":xx" after host` + "\n"},
		{"redis://:s3cret@127.0.0.1:1/x", ExitFailed,
			`apikey disable: invalid input: Redis setting redis://:xxxxx@127.0.0.1:1/x: redis: invalid database number: "x"` + "\n"},
		{"user:s3cret@127.0.0.1:1", ExitFailed,
			`apikey disable: invalid input: Redis setting "xxxxx@127.0.0.1:1": want redis://host:port/db or host:port` + "\n"},
		{"redis://user:s3cret@127.0.0.1:1/0", ExitOK, "apikey: warning: the change is saved, but Redis at redis://user:xxxxx@127.0.0.1:1/0 did not hear of it"},
		{"rediss://:s3cret@127.0.0.1:1/0", ExitOK, "apikey: warning: the change is saved, but Redis at rediss://:xxxxx@127.0.0.1:1/0 did not hear of it"},
	} {
		// Each Redis that does not answer costs seconds: try the two of
		// those one way each, by flag and by APIKEY_REDIS.
		ways := []bool{false, true}
		if tt.code == ExitOK {
			ways = []bool{strings.HasPrefix(tt.setting, "rediss")}
		}
		for _, viaEnv := range ways {
			args := []string{"disable", k.ID}
			c.env = nil
			if viaEnv {
				c.env = map[string]string{"APIKEY_REDIS": tt.setting}
			} else {
				args = append(args, "--redis", tt.setting)
			}
			r := c.run(args...)
			out := r.stdout + r.stderr
			assert.NotContains(t, out, "s3cret", tt.setting)
			assert.Equal(t, tt.code, r.code, tt.setting)
			if tt.code == ExitOK {
				assert.True(t, strings.HasPrefix(r.stderr, tt.want), "%s: %s", tt.setting, r.stderr)
			} else {
				assert.Equal(t, tt.want, r.stderr, tt.setting)
			}
		}
	}
}

// The read-only commands do not reach Redis: they have nothing to
// announce, and a Redis that is down costs them nothing.
func TestReadOnlyCommandsSkipRedis(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	for _, args := range [][]string{{"list"}, {"show", k.ID}} {
		r := c.run(append(args, "--redis", "127.0.0.1:1")...)
		assert.Equal(t, ExitOK, r.code, r.stderr)
		assert.Empty(t, r.stderr, args)
	}
}
