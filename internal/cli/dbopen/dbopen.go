// Package dbopen opens the key database named by one setting, the same way
// for the apikey command and the SQL example, so a key created by one is
// found by the other.
//
// A setting is one of:
//
//	postgres://user:pass@host:5432/db?sslmode=disable   PostgreSQL, through pgx
//	postgresql://…                                      the same
//	host=db user=u password=p dbname=app                the same, as a keyword DSN
//	mysql://user:pass@host:3306/db?param=value          MySQL or MariaDB
//	user:pass@tcp(host:3306)/db?param=value             the same, as a go-sql-driver DSN
//	sqlite://path/to/keys.db                            SQLite file
//	file:keys.db?mode=rwc                               SQLite URI, as given
//	path/to/keys.db                                     SQLite file (anything else)
//
// The library itself imports no driver; this package does, which is why it
// lives in internal/ and is used only by commands and examples.
package dbopen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/dsn"
)

// Default is the setting used when neither a flag nor EnvVar gives one: a
// SQLite file in the current directory, so a first run needs no server.
const Default = "apikey.db"

// EnvVar is the environment variable read when no flag names the database.
const EnvVar = "APIKEY_DB"

// PingTimeout bounds how long Open waits for the database to answer, so an
// unreachable server fails the command instead of hanging it.
const PingTimeout = 10 * time.Second

// Setting returns the database setting to use: flagValue if it is not
// empty, else the EnvVar environment variable read through getenv (or
// os.Getenv when getenv is nil), else Default. Tests pass their own
// getenv so they never depend on the caller's environment.
func Setting(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(EnvVar); v != "" {
		return v
	}
	return Default
}

// target is what a setting resolves to: the driver to open, its DSN (which
// may hold a password: never print it), and the store dialect.
type target struct {
	driver  string
	dsn     string
	dialect apikey.Dialect
	// dir is the directory a SQLite file will be created in, when known,
	// so a missing one is reported in plain words rather than as SQLite's
	// "unable to open database file".
	dir string
	// path is the SQLite file, when known, so a missing one can be told
	// from other failures.
	path string
}

// The forms of settings, told apart before any is parsed.
var (
	pgKeywordDSN = regexp.MustCompile(`(^|\s)(host|dbname|user|password|sslmode)=`)
	urlScheme    = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)
	// pgKeywordPassword matches the value of password= in a keyword DSN,
	// quoted or not, for Redact, and of any keyword secretParam names a
	// secret (sslpassword, the client key's).
	pgKeywordPassword = regexp.MustCompile(`(?i)(\b[a-z_]*(?:pass|secret)[a-z_]*\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)
)

// sqlitePragmas are added to every SQLite DSN: a busy timeout so that the
// command and a running server wait for each other's writes instead of
// failing with "database is locked", and WAL so readers (the server) never
// block the writer (the command).
var sqlitePragmas = []string{"busy_timeout(5000)", "journal_mode(WAL)"}

// parse resolves a setting without any I/O.
func parse(setting string) (target, error) {
	if setting == "" {
		return target{}, errors.New("empty database setting")
	}
	if m := urlScheme.FindStringSubmatch(setting); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			return target{driver: "pgx", dsn: setting, dialect: apikey.Postgres}, nil
		case "mysql":
			dsn, err := mysqlDSN(setting)
			if err != nil {
				return target{}, err
			}
			return target{driver: "mysql", dsn: dsn, dialect: apikey.MySQL}, nil
		case "sqlite", "sqlite3":
			path, query, _ := strings.Cut(setting[len(m[0]):], "?")
			return sqliteTarget(path, query)
		default:
			return target{}, fmt.Errorf("unsupported database scheme %q: use postgres://, mysql://, sqlite:// or a file path", m[1])
		}
	}
	if strings.HasPrefix(setting, "file:") {
		path, query, _ := strings.Cut(setting, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return target{}, fmt.Errorf("bad SQLite URI query: %w", err)
		}
		return target{driver: "sqlite", dsn: path + "?" + withPragmas(q).Encode(), dialect: apikey.SQLite,
			path: uriPath(path)}, nil
	}
	if dsn.IsMySQLDSN(setting) {
		d, err := mysqlDSN(setting)
		if err != nil {
			return target{}, err
		}
		return target{driver: "mysql", dsn: d, dialect: apikey.MySQL}, nil
	}
	if pgKeywordDSN.MatchString(setting) {
		return target{driver: "pgx", dsn: setting, dialect: apikey.Postgres}, nil
	}
	if setting == ":memory:" {
		return target{}, errors.New("an in-memory SQLite database would vanish when the command exits: name a file")
	}
	return sqliteTarget(setting, "")
}

// sqliteTarget makes a SQLite URI for a plain file path, escaping the
// characters a URI would otherwise read as syntax.
func sqliteTarget(path, query string) (target, error) {
	if path == "" {
		return target{}, errors.New("empty SQLite file path")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return target{}, fmt.Errorf("bad SQLite query: %w", err)
	}
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return target{
		driver:  "sqlite",
		dsn:     "file:" + escaped + "?" + withPragmas(q).Encode(),
		dialect: apikey.SQLite,
		dir:     filepath.Dir(path),
		path:    path,
	}, nil
}

// uriPath returns the file a SQLite URI (file:path, before any "?")
// names, or "" when its escapes are bad. (file://… is refused earlier, as
// an unsupported scheme.)
func uriPath(uri string) string {
	path, err := url.PathUnescape(strings.TrimPrefix(uri, "file:"))
	if err != nil {
		return ""
	}
	return path
}

// withMode returns the DSN of a SQLite target opened in mode: SQLite's own
// mode=rw or mode=ro, which never create the file whatever the setting
// says. A read-only connection sets no journal mode: switching a database
// to WAL is a write, which it would refuse.
func (t target) withMode(mode Mode) string {
	if t.dialect != apikey.SQLite || mode == Create {
		return t.dsn
	}
	path, query, _ := strings.Cut(t.dsn, "?")
	q, _ := url.ParseQuery(query) // built by parse: it parses
	if mode == ReadOnly {
		q.Set("mode", "ro")
		q["_pragma"] = slices.DeleteFunc(q["_pragma"], func(p string) bool { return p == "journal_mode(WAL)" })
	} else {
		q.Set("mode", "rw")
	}
	return path + "?" + q.Encode()
}

// withPragmas adds each of sqlitePragmas that q does not already set, so a
// user's own busy_timeout or journal_mode wins.
func withPragmas(q url.Values) url.Values {
	for _, p := range sqlitePragmas {
		name, _, _ := strings.Cut(p, "(")
		set := false
		for _, have := range q["_pragma"] {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(have)), name) {
				set = true
			}
		}
		if !set {
			q.Add("_pragma", p)
		}
	}
	return q
}

// mysqlDSN returns a MySQL setting, a mysql:// URL or a go-sql-driver DSN,
// in the form go-sql-driver/mysql reads, user:pass@tcp(host:port)/db?params,
// after the driver has checked its parameters.
func mysqlDSN(setting string) (string, error) {
	d, err := dsn.MySQL(setting)
	if err != nil {
		return "", err
	}
	cfg, err := mysql.ParseDSN(d)
	if err != nil {
		// The driver's errors name a parameter or its value, never the
		// password; newError scrubs them all the same.
		return "", fmt.Errorf("bad MySQL setting: %w", err)
	}
	return cfg.FormatDSN(), nil
}

// Redact returns setting with any password replaced by "xxxxx", for
// messages. SQLite paths are returned unchanged: they hold no secret.
func Redact(setting string) string {
	m := urlScheme.FindStringSubmatch(setting)
	if m == nil {
		// Not a URL: a go-sql-driver DSN, a PostgreSQL keyword DSN or a
		// SQLite path.
		if userinfo, rest, ok := dsn.SplitMySQLDSN(setting); ok {
			if user, _, ok := strings.Cut(userinfo, ":"); ok {
				return user + ":xxxxx@" + rest
			}
			return setting
		}
		return pgKeywordPassword.ReplaceAllString(setting, "${1}xxxxx")
	}
	u, err := url.Parse(setting)
	if err != nil {
		// Cannot tell where the password ends: hide all of the userinfo.
		rest := setting[len(m[0]):]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			return m[0] + "xxxxx" + rest[at:]
		}
		return m[0] + "xxxxx"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// secretParam reports whether a query parameter carries a secret, such as
// pgx's password and sslpassword.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "pass") || strings.Contains(n, "secret")
}

// Scrub returns s, a message about setting (a driver's or a client's
// error), with every password the setting holds replaced by "xxxxx", in
// any of the encodings a URL may carry it in. It works on URLs url.Parse
// refuses too, whose errors quote the whole URL.
func Scrub(setting, s string) string {
	for _, secret := range secrets(setting) {
		s = strings.ReplaceAll(s, secret, "xxxxx")
	}
	return s
}

// secrets returns the passwords a setting holds, so they can be scrubbed
// from driver errors that might quote them.
func secrets(setting string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
			if raw, err := url.PathUnescape(s); err == nil && raw != s {
				out = append(out, raw)
			}
		}
	}
	m := urlScheme.FindStringSubmatch(setting)
	if m == nil {
		// A go-sql-driver DSN: the password runs from the first ':' to
		// the '@' before the address, as Redact hides it.
		if userinfo, _, ok := dsn.SplitMySQLDSN(setting); ok {
			if _, p, ok := strings.Cut(userinfo, ":"); ok {
				add(p)
			}
		}
		// A PostgreSQL keyword DSN: password=value or password='va lue'.
		for _, kv := range pgKeywordPassword.FindAllStringSubmatch(setting, -1) {
			v := kv[2]
			add(v)
			if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
				add(strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(v[1 : len(v)-1]))
			}
		}
		return out
	}
	u, err := url.Parse(setting)
	if err != nil {
		// The password is what follows the first ':' of the userinfo,
		// which ends at the last '@' (Redact hides the same span).
		rest := setting[len(m[0]):]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				add(p)
			}
		}
		return out
	}
	if p, ok := u.User.Password(); ok {
		add(p)
	}
	for k, vs := range u.Query() {
		if secretParam(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return out
}

// Error is the error Open returns. Its message names the database by its
// redacted setting and never holds a password; Unwrap gives the driver's
// error as it was, or ErrNoDatabase.
type Error struct {
	msg string
	err error
}

// Error returns the redacted message.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the driver's error, for errors.Is and errors.As; print it
// only where a password in it would do no harm.
func (e *Error) Unwrap() error { return e.err }

func newError(setting, what string, err error) *Error {
	detail := ""
	if err != nil {
		detail = Scrub(setting, ": "+err.Error())
	}
	return &Error{msg: fmt.Sprintf("database %s: %s%s", Redact(setting), what, detail), err: err}
}

// Mode is what Open may do to a SQLite file. A server database is opened
// the same way in every mode: what a command does to it is the command's.
type Mode int

const (
	// Create creates the SQLite file when it does not exist.
	Create Mode = iota
	// Existing opens the SQLite file for reading and writing, and fails
	// with ErrNoDatabase when there is none.
	Existing
	// ReadOnly opens the SQLite file read-only, and fails with
	// ErrNoDatabase when there is none: nothing is created or written.
	ReadOnly
)

// ErrNoDatabase means the SQLite file a setting names does not exist, and
// the Mode did not allow creating it.
var ErrNoDatabase = errors.New("no such file")

// Open opens the database a setting names, checks that it answers (within
// PingTimeout) and returns it with the dialect to give apikey.NewSQLStore.
// A SQLite file is created if it does not exist, with a busy timeout and
// WAL journaling. Errors are *Error values whose message never holds a
// password.
func Open(ctx context.Context, setting string) (*sql.DB, apikey.Dialect, error) {
	return OpenMode(ctx, setting, Create)
}

// OpenMode is Open for a SQLite file that may have to exist already
// (Existing, ReadOnly): a command that only reads or changes keys must
// not leave an empty database behind a mistyped path.
func OpenMode(ctx context.Context, setting string, mode Mode) (*sql.DB, apikey.Dialect, error) {
	t, err := parse(setting)
	if err != nil {
		return nil, 0, newError(setting, err.Error(), nil)
	}
	if t.dir != "" && mode == Create {
		if fi, err := os.Stat(t.dir); err != nil || !fi.IsDir() {
			return nil, 0, newError(setting, fmt.Sprintf("directory %s does not exist", t.dir), nil)
		}
	}
	if t.path != "" && mode != Create {
		if _, err := os.Stat(t.path); errors.Is(err, fs.ErrNotExist) {
			e := newError(setting, ErrNoDatabase.Error(), nil)
			e.err = ErrNoDatabase
			return nil, 0, e
		}
	}
	db, err := sql.Open(t.driver, t.withMode(mode))
	if err != nil {
		return nil, 0, newError(setting, "cannot open", err)
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, 0, newError(setting, "cannot connect", err)
	}
	return db, t.dialect, nil
}
