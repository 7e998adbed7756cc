package dbopen

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/dsn"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// TestMain says which tests skipped for want of a server (testkit.Need).
func TestMain(m *testing.M) { testkit.Main(m) }

func TestSetting(t *testing.T) {
	env := func(v string) func(string) string {
		return func(name string) string {
			if name == EnvVar {
				return v
			}
			return ""
		}
	}
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag wins", "a.db", "b.db", "a.db"},
		{"env when no flag", "", "postgres://h/db", "postgres://h/db"},
		{"default last", "", "", Default},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Setting(tt.flag, env(tt.env)))
		})
	}
	t.Setenv(EnvVar, "from-os.db")
	assert.Equal(t, "from-os.db", Setting("", nil), "nil getenv reads the process environment")
}

func TestParse(t *testing.T) {
	const pragmas = "_pragma=busy_timeout%285000%29&_pragma=journal_mode%28WAL%29"
	tests := []struct {
		setting string
		driver  string
		dsn     string
		dialect apikey.Dialect
	}{
		{"postgres://u:p@db:5432/app?sslmode=disable", "pgx", "postgres://u:p@db:5432/app?sslmode=disable", apikey.Postgres},
		{"postgresql://u@db/app", "pgx", "postgresql://u@db/app", apikey.Postgres},
		{"mysql://root@127.0.0.1:3306/test", "mysql", "root@tcp(127.0.0.1:3306)/test", apikey.MySQL},
		{"mysql://root:s3cret@db/app", "mysql", "root:s3cret@tcp(db:3306)/app", apikey.MySQL},
		{"mysql://u:p%40ss%2Fw@[::1]:3307/app?parseTime=true&loc=Europe%2FParis", "mysql",
			"u:p@ss/w@tcp([::1]:3307)/app?loc=Europe%2FParis&parseTime=true", apikey.MySQL},
		// go-sql-driver DSNs, as the driver's documentation writes them.
		{"root@tcp(127.0.0.1:3306)/test", "mysql", "root@tcp(127.0.0.1:3306)/test", apikey.MySQL},
		{"u:p@ss/w@tcp([::1]:3307)/app?parseTime=true", "mysql", "u:p@ss/w@tcp([::1]:3307)/app?parseTime=true", apikey.MySQL},
		{"tcp(db:3306)/app", "mysql", "tcp(db:3306)/app", apikey.MySQL},
		{"root@unix(/run/mysqld/mysqld.sock)/app", "mysql", "root@unix(/run/mysqld/mysqld.sock)/app", apikey.MySQL},
		{"root:pw@/app", "mysql", "root:pw@tcp(127.0.0.1:3306)/app", apikey.MySQL},
		// PostgreSQL keyword DSNs go to pgx as they are.
		{"host=db user=u password=p dbname=app sslmode=disable", "pgx", "host=db user=u password=p dbname=app sslmode=disable", apikey.Postgres},
		{"apikey.db", "sqlite", "file:apikey.db?" + pragmas, apikey.SQLite},
		// user@/db is a DSN (were it read as a path, an error naming the
		// missing directory would show the password): such a SQLite path
		// is written sqlite://.
		{"sqlite://mail@/keys.db", "sqlite", "file:mail@/keys.db?" + pragmas, apikey.SQLite},
		{"/var/lib/keys/k.db", "sqlite", "file:/var/lib/keys/k.db?" + pragmas, apikey.SQLite},
		{"odd?name#1%.db", "sqlite", "file:odd%3fname%231%25.db?" + pragmas, apikey.SQLite},
		{"sqlite://keys.db", "sqlite", "file:keys.db?" + pragmas, apikey.SQLite},
		{"sqlite:///tmp/keys.db?_txlock=immediate", "sqlite", "file:/tmp/keys.db?" + pragmas + "&_txlock=immediate", apikey.SQLite},
		{"file:keys.db?mode=rwc", "sqlite", "file:keys.db?" + pragmas + "&mode=rwc", apikey.SQLite},
		// A user's own pragma is kept, not doubled.
		{"file:k.db?_pragma=busy_timeout(100)", "sqlite", "file:k.db?_pragma=busy_timeout%28100%29&_pragma=journal_mode%28WAL%29", apikey.SQLite},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			got, err := parse(tt.setting)
			require.NoError(t, err)
			assert.Equal(t, tt.driver, got.driver)
			assert.Equal(t, tt.dsn, got.dsn)
			assert.Equal(t, tt.dialect, got.dialect)
		})
	}
}

// The converted MySQL DSN must mean what the URL meant to the driver too.
func TestMySQLDSNRoundTrip(t *testing.T) {
	got, err := parse("mysql://u:p%40ss%2Fw@db.example:3307/app?parseTime=true")
	require.NoError(t, err)
	cfg, err := mysql.ParseDSN(got.dsn)
	require.NoError(t, err)
	assert.Equal(t, "u", cfg.User)
	assert.Equal(t, "p@ss/w", cfg.Passwd)
	assert.Equal(t, "tcp", cfg.Net)
	assert.Equal(t, "db.example:3307", cfg.Addr)
	assert.Equal(t, "app", cfg.DBName)
	assert.True(t, cfg.ParseTime)
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		setting, want string
	}{
		{"", "empty"},
		{"mysql://root@127.0.0.1:3306/", "database name"},
		{"mysql:///test", "needs a host"},
		{"mysql://h/db?parseTime=maybe", "bad MySQL setting: invalid bool value: maybe"},
		{"root:pw@tcp(127.0.0.1:3306)/test?parseTime=maybe", "bad MySQL setting: invalid bool value: maybe"},
		{"root:pw@tcp(127.0.0.1:3306/test", "bad MySQL setting"},
		{"mariadb://h/db", "unsupported database scheme"},
		{"sqlite://", "empty SQLite"},
		{":memory:", "in-memory"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			_, err := parse(tt.setting)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:hunter2@db:5432/app?sslmode=disable", "postgres://u:xxxxx@db:5432/app?sslmode=disable"},
		{"postgres://u@db/app?password=hunter2&sslpassword=hunter3", "postgres://u@db/app?password=xxxxx&sslpassword=xxxxx"},
		{"mysql://root:hunter2@127.0.0.1:3306/test", "mysql://root:xxxxx@127.0.0.1:3306/test"},
		{"mysql://root@127.0.0.1:3306/test", "mysql://root@127.0.0.1:3306/test"},
		// Unparseable (a raw space in the host): all userinfo goes.
		{"postgres://u:hun ter2@d b/app", "postgres://xxxxx@d b/app"},
		{"keys/apikey.db", "keys/apikey.db"},
		// Driver-native forms: a password may hold '@' and ':'.
		{"root:hunter2@tcp(127.0.0.1:3306)/test", "root:xxxxx@tcp(127.0.0.1:3306)/test"},
		{"root:hun@t:er2@tcp(127.0.0.1:3306)/test", "root:xxxxx@tcp(127.0.0.1:3306)/test"},
		{"root:hunter2@/test", "root:xxxxx@/test"},
		{"root@tcp(127.0.0.1:3306)/test", "root@tcp(127.0.0.1:3306)/test"},
		{"host=db password=hunter2 dbname=app", "host=db password=xxxxx dbname=app"},
		{"host=db PASSWORD = 'hunter2 \\' x' dbname=app", "host=db PASSWORD = xxxxx dbname=app"},
		// Every keyword that holds a secret, as in a URL's query.
		{"host=db sslpassword=hunter2 dbname=app", "host=db sslpassword=xxxxx dbname=app"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Redact(tt.in)
			assert.Equal(t, tt.want, got)
			assert.NotContains(t, got, "hunter")
		})
	}
}

func TestErrorsNeverHoldThePassword(t *testing.T) {
	ctx := context.Background()
	for _, setting := range []string{
		// Port 1 refuses at once: the driver's error comes back quickly.
		"postgres://u:hunter2@127.0.0.1:1/app?sslmode=disable",
		"postgres://u@127.0.0.1:1/app?sslmode=disable&password=hunter2",
		"mysql://u:hunter2@127.0.0.1:1/app",
		"mysql://u:hunter2@127.0.0.1:1/app?parseTime=maybe",
		"mysql://u:hun%zzter2@127.0.0.1:1/app",
		"pgsql://u:hunter2@127.0.0.1:1/app",
		"u:hunter2@tcp(127.0.0.1:1)/app",
		"u:hunter2@tcp(127.0.0.1:1)/app?parseTime=maybe",
		"u:hun@ter2@tcp(127.0.0.1:1)/app",
		"u:hun%zzter2@tcp(127.0.0.1:1)/app",
		"host=127.0.0.1 port=1 password=hunter2 sslmode=disable",
		"host=127.0.0.1 port=1 password='hunter2 x' sslmode=disable",
	} {
		t.Run(setting, func(t *testing.T) {
			db, _, err := Open(ctx, setting)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.NotContains(t, err.Error(), "hunter")
			assert.Regexp(t, `127\.0\.0\.1(:| port=)1`, err.Error(), "the message names the database")
			var e *Error
			assert.True(t, errors.As(err, &e))
		})
	}
}

// scrubbing replaces a password wherever a driver might quote it.
func TestNewErrorScrubsDriverMessages(t *testing.T) {
	err := newError("postgres://u:p%40ss@h/db", "cannot connect", errors.New("auth failed for p@ss (p%40ss)"))
	assert.NotContains(t, err.Error(), "p@ss")
	assert.NotContains(t, err.Error(), "p%40ss")
	assert.Contains(t, err.Error(), "cannot connect")
}

func TestOpenSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	for _, setting := range []string{path, "sqlite://" + path, "file:" + path} {
		t.Run(setting, func(t *testing.T) {
			db, dialect, err := Open(ctx, setting)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			assert.Equal(t, apikey.SQLite, dialect)
			var timeout int
			require.NoError(t, db.QueryRow("PRAGMA busy_timeout").Scan(&timeout))
			assert.Equal(t, 5000, timeout)
			var mode string
			require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
			assert.Equal(t, "wal", mode)
			useStore(t, db, dialect)
		})
	}
	_, err := os.Stat(path)
	assert.NoError(t, err, "the file is created where the setting says")

	_, _, err = Open(ctx, filepath.Join(t.TempDir(), "missing", "keys.db"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")
}

func TestOpenPostgres(t *testing.T) {
	setting := testkit.Need(t, testkit.EnvPostgres)
	db, dialect, err := Open(context.Background(), setting)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	assert.Equal(t, apikey.Postgres, dialect)
	useStore(t, db, dialect)
}

func TestOpenMySQL(t *testing.T) {
	env := testkit.Need(t, testkit.EnvMySQL)
	// Both forms, whichever the variable holds.
	for name, setting := range map[string]string{"URL": asMySQLURL(t, env), "DSN": asMySQLDSN(t, env)} {
		t.Run(name, func(t *testing.T) {
			db, dialect, err := Open(context.Background(), setting)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			assert.Equal(t, apikey.MySQL, dialect)
			useStore(t, db, dialect)
		})
	}
}

// asMySQLDSN returns a MySQL setting, a URL or a DSN, as a go-sql-driver DSN.
func asMySQLDSN(t testing.TB, setting string) string {
	t.Helper()
	d, err := dsn.MySQL(setting)
	require.NoError(t, err)
	return d
}

// asMySQLURL returns a MySQL setting, a URL or a DSN, as the mysql:// URL a
// user would type.
func asMySQLURL(t testing.TB, setting string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(asMySQLDSN(t, setting))
	require.NoError(t, err)
	u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName}
	if cfg.Passwd != "" {
		u.User = url.UserPassword(cfg.User, cfg.Passwd)
	} else {
		u.User = url.User(cfg.User)
	}
	return u.String()
}

// useStore checks the opened database works for a store: it migrates a
// throw-away table, creates a key and verifies it.
func useStore(t *testing.T, db *sql.DB, d apikey.Dialect) {
	t.Helper()
	ctx := context.Background()
	table := "dbopen_test_" + strings.ToLower(rand.Text()[:10])
	store, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	t.Cleanup(func() { assert.NoError(t, sqltest.Drop(context.Background(), db, d, table)) })
	m := apikey.New(store, apikey.WithLastUsedInterval(0))
	plain, k, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	p, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	assert.Equal(t, k.ID, p.KeyID)
}

// Existing and ReadOnly never create a SQLite file, whatever form the
// setting takes (a URI asking for mode=rwc included); ReadOnly writes
// nothing, and opens a database in either journal mode.
func TestOpenModes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, mode := range []Mode{Existing, ReadOnly} {
		for _, setting := range []string{missing, "sqlite://" + missing, "file:" + missing + "?mode=rwc"} {
			db, _, err := OpenMode(ctx, setting, mode)
			assert.Nil(t, db)
			assert.ErrorIs(t, err, ErrNoDatabase, setting)
			assert.Equal(t, "database "+setting+": no such file", err.Error())
			_, err = os.Stat(missing)
			require.True(t, os.IsNotExist(err), "mode %d created %s", mode, setting)
		}
	}

	wal := filepath.Join(dir, "wal.db")
	db, _, err := Open(ctx, wal)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t (a INT)")
	require.NoError(t, err)
	db.Close()
	plain := filepath.Join(dir, "plain.db")
	db, err = sql.Open("sqlite", "file:"+plain) // the default rollback journal
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t (a INT)")
	require.NoError(t, err)
	db.Close()
	for _, path := range []string{wal, plain} {
		db, _, err := OpenMode(ctx, path, ReadOnly)
		require.NoError(t, err, path)
		var n int
		assert.NoError(t, db.QueryRow("SELECT count(*) FROM t").Scan(&n), path)
		_, err = db.Exec("INSERT INTO t VALUES (1)")
		assert.ErrorContains(t, err, "readonly", path)
		db.Close()

		db, _, err = OpenMode(ctx, path, Existing)
		require.NoError(t, err, path)
		_, err = db.Exec("INSERT INTO t VALUES (1)")
		assert.NoError(t, err, path)
		db.Close()
	}
}

func TestTableExists(t *testing.T) {
	ctx := context.Background()
	settings := map[string]string{"sqlite": filepath.Join(t.TempDir(), "keys.db")}
	if setting := os.Getenv(testkit.EnvPostgres); setting != "" {
		settings["postgres"] = setting
	}
	if setting := os.Getenv(testkit.EnvMySQL); setting != "" {
		settings["mysql"] = setting
	}
	for name, setting := range settings {
		t.Run(name, func(t *testing.T) {
			db, d, err := Open(ctx, setting)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			table := "dbopen_exists_" + strings.ToLower(rand.Text()[:10])
			ok, err := TableExists(ctx, db, d, table)
			require.NoError(t, err)
			assert.False(t, ok, "before Migrate")
			store, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
			require.NoError(t, err)
			require.NoError(t, store.Migrate(ctx))
			t.Cleanup(func() { assert.NoError(t, sqltest.Drop(context.Background(), db, d, table)) })
			ok, err = TableExists(ctx, db, d, table)
			require.NoError(t, err)
			assert.True(t, ok, "after Migrate")
			ok, err = TableExists(ctx, db, d, table[:len(table)-1])
			require.NoError(t, err)
			assert.False(t, ok, "a name one letter short")
			if d != apikey.MySQL { // MySQL's table names follow the file system's case
				ok, err = TableExists(ctx, db, d, strings.ToUpper(table))
				require.NoError(t, err)
				assert.True(t, ok, "unquoted names match in any case")
			}
		})
	}
}

// Scrub finds the password of a URL url.Parse refuses too (its error
// quotes the whole URL), in every encoding.
func TestScrub(t *testing.T) {
	tests := []struct{ setting, msg string }{
		{"redis://:s3cret@host:xx", `parse "redis://:s3cret@host:xx": invalid port ":xx" after host`},
		{"redis://user:s3cret@host:6379/0", "auth failed for user:s3cret"},
		{"rediss://:s3cret@host:xx/0", `parse "rediss://:s3cret@host:xx/0": invalid port`},
		{"redis://:s3%40cret@host:6379", "password s3@cret or s3%40cret"},
		{"redis://:s3%40cret@host:xx", "password s3@cret or s3%40cret"},
		{"postgres://u@h/db?password=s3cret", "password s3cret"},
		{"u:s3cret@tcp(h:3306)/db", "access denied for u:s3cret"},
		{"u:s3@cret@tcp(h:3306)/db", "password s3@cret or s3%40cret"},
		{"host=h password=s3cret", "password=s3cret"},
		{"host=h password='s3cret x'", "password s3cret x"},
	}
	for _, tt := range tests {
		got := Scrub(tt.setting, tt.msg)
		assert.NotContains(t, got, "s3cret", tt.setting)
		assert.NotContains(t, got, "s3@cret", tt.setting)
		assert.NotContains(t, got, "s3%40cret", tt.setting)
		assert.Contains(t, got, "xxxxx", tt.setting)
	}
	assert.Equal(t, "no password here", Scrub("redis://host:6379", "no password here"))
	assert.Equal(t, "a path", Scrub("keys.db", "a path"))
}
