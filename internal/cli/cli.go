// Package cli is the apikey command: it creates, lists, shows, updates,
// disables, enables, rotates and revokes the keys a service verifies, in
// the same SQL table the service's apikey.SQLStore reads. It lives here
// rather than in cmd/apikey so that tests of other packages (the SQL
// example) can run it as a user would.
package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/redisfeed"
)

// Exit codes of Run.
const (
	// ExitOK means the command did what was asked.
	ExitOK = 0
	// ExitFailed means the command was understood but refused (no such
	// key, an invalid value, an expired key to rotate) or failed (the
	// database did not answer). The reason is on stderr.
	ExitFailed = 1
	// ExitUsage means the command line itself was wrong: an unknown
	// command or flag, a missing argument or required flag.
	ExitUsage = 2
)

// command is one subcommand of apikey.
type command struct {
	name    string
	args    string // the positional arguments, for usage lines ("ID")
	summary string
	help    string // more detail for "apikey help <name>"
	// flags registers the command's own flags besides the shared ones.
	flags func(fs *flag.FlagSet, o *options)
	// nargs is the number of positional arguments the command takes.
	nargs int
	run   func(ctx context.Context, e *env, o *options, args []string) error
}

// commands in the order usage lists them.
var commands = []*command{
	createCmd, listCmd, showCmd, updateCmd, disableCmd, enableCmd, rotateCmd, revokeCmd, importCmd, migrateCmd, serveCmd,
}

// lookup returns the command called name ("owner set" for one of the
// owner commands), or nil.
func lookup(name string) *command {
	for _, c := range slices.Concat(commands, ownerCommands) {
		if c.name == name {
			return c
		}
	}
	return nil
}

// keyArgument answers a command line that holds a key, by the argument's
// number.
const keyArgument = "apikey: argument %d: that looks like a key, not an ID. No command takes a key: it was not used, and is not repeated here. 'apikey list' shows each key's ID.\n"

// usageError is an error in the command line, answered with ExitUsage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// env is what a command runs with: its output and a way to reach the
// database once its flags are known to be right.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal is whether stdout is a terminal, where a new admin key may
	// be printed (see serve).
	terminal bool
}

// terminal reports whether stdout is a terminal; tests replace it.
var terminal = isTerminal

// Run runs the apikey command with args (without the program name),
// printing results to stdout and errors to stderr, and returns the exit
// code: ExitOK, ExitFailed or ExitUsage. getenv reads the environment
// (os.Getenv when nil); tests pass their own.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if getenv == nil {
		getenv = os.Getenv
	}
	// No command takes a key. One pasted where an ID belongs would come
	// back in "unknown command", "unexpected argument", a flag's "invalid
	// value" or a store's "key not found": refuse it before anything
	// parses it, naming it by its place only. A mistyped key too, whose
	// checksum would give the real one away, unless the argument is a
	// path or a URL, where long runs of letters are common.
	for i, a := range args {
		if apikey.LooksLikeKey(a) || !strings.Contains(a, "/") && apikey.ResemblesKey(a) {
			fmt.Fprintf(stderr, keyArgument, i+1)
			return ExitUsage
		}
	}
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv, terminal: terminal(stdout)}
	o := &options{table: apikey.DefaultSQLTable}

	// Shared flags may come before the command name too: apikey --db x list.
	top := newFlagSet("apikey")
	addShared(top, o)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return ExitOK
		}
		return usageFailed(stderr, "", flagError(err))
	}
	if top.NArg() == 0 {
		printUsage(stderr)
		return ExitUsage
	}
	name, rest := top.Arg(0), top.Args()[1:]
	if name == "help" {
		// apikey help create --db x: the shared flags may be there too.
		fs := newFlagSet("apikey help")
		addShared(fs, o)
		topics, err := parseInterleaved(fs, rest)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			return usageFailed(stderr, "", flagError(err))
		}
		return help(stdout, stderr, topics)
	}
	if name == ownerGroup {
		// apikey owner show OWNER: the owner command comes next.
		switch {
		case len(rest) > 0 && slices.Contains([]string{"-h", "-help", "--help"}, rest[0]):
			printOwnerUsage(stdout)
			return ExitOK
		case len(rest) == 0 || strings.HasPrefix(rest[0], "-"):
			return usageFailed(stderr, ownerGroup, usagef("missing the owner command: show, list, set or delete"))
		case lookup(ownerGroup+" "+rest[0]) == nil:
			return usageFailed(stderr, ownerGroup, usagef("unknown owner command %q: show, list, set or delete", rest[0]))
		}
		name, rest = ownerGroup+" "+rest[0], rest[1:]
	}
	cmd := lookup(name)
	if cmd == nil {
		return usageFailed(stderr, "", usagef("unknown command %q", name))
	}

	fs := newFlagSet("apikey " + cmd.name)
	addShared(fs, o)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	positional, err := parseInterleaved(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, cmd)
			return ExitOK
		}
		return usageFailed(stderr, cmd.name, flagError(err))
	}
	o.set = map[string]bool{}
	top.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	switch {
	case len(positional) < cmd.nargs:
		return usageFailed(stderr, cmd.name, usagef("missing %s", cmd.args))
	case len(positional) > cmd.nargs:
		return usageFailed(stderr, cmd.name, usagef("unexpected argument %q", positional[cmd.nargs]))
	}

	if err := cmd.run(ctx, e, o, positional); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return usageFailed(stderr, cmd.name, err)
		}
		fmt.Fprintf(stderr, "apikey %s: %s\n", cmd.name, strings.TrimPrefix(err.Error(), "apikey: "))
		return ExitFailed
	}
	return ExitOK
}

// newFlagSet returns a FlagSet that prints nothing itself: Run decides
// where usage goes (stdout when asked for, stderr on a mistake).
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func usageFailed(stderr io.Writer, cmd string, err error) int {
	if cmd == "" {
		fmt.Fprintf(stderr, "apikey: %v\nRun 'apikey help' for usage.\n", err)
	} else {
		fmt.Fprintf(stderr, "apikey %s: %v\nRun 'apikey help %s' for usage.\n", cmd, err, cmd)
	}
	return ExitUsage
}

func help(stdout, stderr io.Writer, args []string) int {
	switch {
	case len(args) == 0:
		printUsage(stdout)
		return ExitOK
	case len(args) == 1 && args[0] == ownerGroup:
		printOwnerUsage(stdout)
		return ExitOK
	case len(args) == 1 || len(args) == 2 && args[0] == ownerGroup:
		name := strings.Join(args, " ")
		if cmd := lookup(name); cmd != nil {
			printCommandUsage(stdout, cmd)
			return ExitOK
		}
		return usageFailed(stderr, "", usagef("unknown command %q", name))
	}
	return usageFailed(stderr, "", usagef("help takes at most one command"))
}

// printOwnerUsage is the help of apikey owner.
func printOwnerUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: apikey owner <command> [flags] [OWNER]\n\n%s\n\nCommands:\n", ownerHelp)
	for _, c := range ownerCommands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n'apikey help owner set' shows a command's flags.\n\n"+sharedHelp)
}

const sharedHelp = `Flags of every command (before or after the command name):
  --db SETTING   the key database (default: $APIKEY_DB, else ./apikey.db):
                   postgres://user:pass@host:5432/db?sslmode=disable
                   host=host user=user password=pass dbname=db (the same)
                   mysql://user:pass@host:3306/db
                   user:pass@tcp(host:3306)/db (the same)
                   path/to/keys.db, sqlite://path or file:path?… (SQLite)
  --table NAME   the table holding the keys (default api_keys)
  --redis ADDR   announce each change on Redis, for services following
                 redisfeed (default: $APIKEY_REDIS): redis://host:6379/0 or
                 host:port. PostgreSQL NOTIFY and polling feeds need nothing:
                 the database announces changes itself.
  --json         print JSON instead of text
`

func printUsage(w io.Writer) {
	fmt.Fprint(w, `apikey manages the API keys of a service built on github.com/go-apikey/apikey,
in the same table its SQLStore reads.

Usage:
  apikey <command> [flags] [ID]

Commands:
`)
	for _, c := range slices.Concat(commands, ownerCommands) {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-13s %s\n\n", "help", "show help for a command: apikey help create, apikey help owner set")
	fmt.Fprint(w, sharedHelp)
	fmt.Fprint(w, `
create and serve make the database and its table when they are missing, and
say so. The other commands never create either: list and show only read (a
SQLite file is opened read-only), and they, update, disable, enable, rotate
and revoke answer "no table … run apikey migrate" when the table is missing,
so a mistyped --db or --table creates nothing.

Flags and JSON use the admin API's vocabulary: durations such as 30d or 12h
(--ttl, --grace), LIMIT/WINDOW rate limits (--rate-limit 100/1m, named ones
--limit burst=10/1s), credits refilled every day or month (--credits 1000
--refill 1000/monthly@1), and --json prints what the API answers.

Keys are hashed with SHA-256, the library's default Hasher. A service that
uses other hashers (apikey.WithHashers, for example HMACSHA256 with a secret
pepper) will not accept keys made here: create its keys in the service. Keys
made with --prefix must use a prefix the service accepts (apikey.WithPrefix
or WithAcceptedPrefixes).

Exit status: 0 done; 1 refused (no such key, an invalid value) or failed (the
database did not answer); 2 the command line was wrong, or held a key (no
command takes one: give the key's ID).
`)
}

func printCommandUsage(w io.Writer, c *command) {
	line := "apikey " + c.name + " [flags]"
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", line, c.help)
	fs := newFlagSet(c.name)
	if c.flags != nil {
		c.flags(fs, &options{table: apikey.DefaultSQLTable})
	}
	first := true
	fs.VisitAll(func(f *flag.Flag) {
		if first {
			fmt.Fprint(w, "\nFlags:\n")
			first = false
		}
		// Like flag.PrintDefaults, but with the --name spelling the rest
		// of the help uses.
		typ, usage := flag.UnquoteUsage(f)
		if typ == "value" {
			typ = ""
		}
		fmt.Fprintf(w, "  %s\n      %s", strings.TrimSpace("--"+f.Name+" "+typ), usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprint(w, "\n"+sharedHelp)
}

// access is what a command may do to the database. Only the commands that
// start a database off (create, serve, migrate) may create a table or a
// SQLite file: a mistyped --table or --db must not leave an empty one
// behind a command that meant to read or change keys, and then answer
// "No keys" as if all were well.
type access int

const (
	// readKeys opens a SQLite file read-only and changes nothing: list,
	// show.
	readKeys access = iota
	// changeKeys needs the table; Migrate then adds only what an older
	// version of it lacks (the change log): disable, enable, rotate,
	// revoke.
	changeKeys
	// createTable creates the database and the table when they are
	// missing, and says so on stderr: create, serve.
	createTable
)

// open opens the database with the access a command has, checks that the
// table exists (creating it only for createTable) and returns a store on
// it. The caller closes db.
func (e *env) open(ctx context.Context, o *options, a access) (*apikey.SQLStore, func(), error) {
	store, _, closeDB, err := e.openDB(ctx, o, a)
	return store, closeDB, err
}

// openDB is open, also returning the database.
func (e *env) openDB(ctx context.Context, o *options, a access) (*apikey.SQLStore, *sql.DB, func(), error) {
	mode := dbopen.Create
	switch a {
	case readKeys:
		mode = dbopen.ReadOnly
	case changeKeys:
		mode = dbopen.Existing
	}
	setting := dbopen.Setting(o.db, e.getenv)
	where := dbopen.Redact(setting)
	store, db, dialect, err := e.openStore(ctx, o, mode)
	if errors.Is(err, dbopen.ErrNoDatabase) {
		return nil, nil, nil, fmt.Errorf("%w %s in %s (no such file); run apikey migrate", errNoTable, o.table, where)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	closeDB := func() { db.Close() }
	exists, err := dbopen.TableExists(ctx, db, dialect, o.table)
	if err != nil {
		closeDB()
		return nil, nil, nil, fmt.Errorf("database %s: %s", where, dbopen.Scrub(setting, err.Error()))
	}
	if !exists && a != createTable {
		closeDB()
		return nil, nil, nil, fmt.Errorf("%w %s in %s; run apikey migrate", errNoTable, o.table, where)
	}
	if a == readKeys {
		return store, db, closeDB, nil
	}
	if err := store.Migrate(ctx); err != nil {
		closeDB()
		return nil, nil, nil, fmt.Errorf("database %s: %s", where, dbopen.Scrub(setting, err.Error()))
	}
	if !exists {
		fmt.Fprintf(e.stderr, tableCreated, o.table, where)
	}
	return store, db, closeDB, nil
}

// errNoTable is open's refusal of a database without the table: "no table
// api_keys in keys.db; run apikey migrate".
var errNoTable = errors.New("no table")

// dbError is a database's failure as open reports one: naming the
// database, without its password.
func (e *env) dbError(o *options, err error) error {
	setting := dbopen.Setting(o.db, e.getenv)
	return fmt.Errorf("database %s: %s", dbopen.Redact(setting), dbopen.Scrub(setting, err.Error()))
}

// tableCreated tells the user of create or serve that the table is new:
// right for a new database, and a sign of a mistyped --table or --db on
// an old one.
const tableCreated = "apikey: table %s did not exist in %s, so it was created\n"

// openStore opens the database in mode and returns a store on it, doing
// nothing to the table. The caller closes db.
func (e *env) openStore(ctx context.Context, o *options, mode dbopen.Mode) (*apikey.SQLStore, *sql.DB, apikey.Dialect, error) {
	db, dialect, err := dbopen.OpenMode(ctx, dbopen.Setting(o.db, e.getenv), mode)
	if err != nil {
		return nil, nil, 0, err
	}
	store, err := apikey.NewSQLStore(db, dialect, apikey.WithTable(o.table))
	if err != nil {
		db.Close()
		return nil, nil, 0, err
	}
	return store, db, dialect, nil
}

// manager returns a Manager that issues keys with prefix and accepts keys
// with the accepted prefixes too. It records no last-used times, since the
// command verifies nothing, and logs nowhere; extra options, applied
// after, may say otherwise (see verifying).
func manager(store apikey.Store, prefix string, extra []apikey.Option, accepted ...string) (*apikey.Manager, error) {
	for _, p := range append([]string{prefix}, accepted...) {
		if err := apikey.ValidatePrefix(p); err != nil {
			return nil, err
		}
	}
	return apikey.New(store, append([]apikey.Option{
		apikey.WithPrefix(prefix),
		apikey.WithAcceptedPrefixes(accepted...),
		apikey.WithLastUsedInterval(0),
		apikey.WithLogger(slog.New(slog.DiscardHandler)),
	}, extra...)...), nil
}

// verifying returns the Manager options of a command that verifies keys
// (serve answering gateways' checks): last-used times recorded as a
// service records them, and store failures, which refuse requests with
// 503, logged to stderr. Other commands get none.
func (e *env) verifying(o *options) []apikey.Option {
	if !o.checks() {
		return nil
	}
	opts := []apikey.Option{
		apikey.WithLastUsedInterval(apikey.DefaultLastUsedInterval),
		apikey.WithLogger(slog.New(slog.NewTextHandler(e.stderr, nil))),
	}
	if o.shapeRE != nil {
		opts = append(opts, apikey.WithImportedKeys(o.shapeRE.MatchString))
	}
	return opts
}

// withManager opens the database with access a and runs fn with a
// Manager on it. A command that only reads has no change to announce, so
// it does not reach Redis.
func (e *env) withManager(ctx context.Context, o *options, a access, prefix string, fn func(m *apikey.Manager, s *apikey.SQLStore) error) error {
	store, closeDB, err := e.open(ctx, o, a)
	if err != nil {
		return err
	}
	defer closeDB()
	var m *apikey.Manager
	var done func()
	if a == readKeys {
		m, err = manager(store, prefix, nil)
		done = func() { m.Close() }
	} else {
		m, done, err = e.manager(o, store, prefix)
	}
	if err != nil {
		return err
	}
	defer done()
	return fn(m, store)
}

// manager returns a Manager on store, as manager does, that also announces
// its writes on Redis when --redis or APIKEY_REDIS names a server, so that
// services following a redisfeed drop changed keys from their caches at
// once. done closes it, after one last try to publish; a change Redis did
// not hear of is saved all the same, and the warning says so.
func (e *env) manager(o *options, store *apikey.SQLStore, prefix string, accepted ...string) (*apikey.Manager, func(), error) {
	setting := o.redis
	if setting == "" {
		setting = e.getenv("APIKEY_REDIS")
	}
	if setting == "" {
		m, err := manager(store, prefix, e.verifying(o), accepted...)
		if err != nil {
			return nil, nil, err
		}
		return m, func() { m.Close() }, nil
	}
	opts, err := redisOptions(setting)
	if err != nil {
		return nil, nil, err
	}
	// go-redis logs every failed dial to stderr from its own process-wide
	// logger (a Redis that is down: nine lines before the warning that
	// says what it means). The warning below is the one line a user needs.
	redis.SetLogger(&logging.VoidLogger{})
	rdb := redis.NewClient(opts)
	feed := redisfeed.New(rdb, redisfeed.WithLogger(slog.New(slog.DiscardHandler)))
	cached := cache.New(store, cache.WithFeed(feed))
	m, err := manager(cached, prefix, e.verifying(o), accepted...)
	if err != nil {
		cached.Close()
		feed.Close()
		rdb.Close()
		return nil, nil, err
	}
	return m, func() {
		m.Close()
		cached.Close()
		if err := feed.Close(); err != nil {
			fmt.Fprintf(e.stderr, "apikey: warning: the change is saved, but Redis at %s did not hear of it (%s); services following redisfeed see it within their cache TTL\n",
				redactRedis(setting), dbopen.Scrub(setting, strings.TrimPrefix(err.Error(), "redisfeed: ")))
		}
		rdb.Close()
	}, nil
}

// redisOptions reads a Redis setting: a redis:// or rediss:// URL, or a
// host:port. Its errors hold no password.
func redisOptions(setting string) (*redis.Options, error) {
	if strings.HasPrefix(setting, "redis://") || strings.HasPrefix(setting, "rediss://") {
		opts, err := redis.ParseURL(setting)
		if err != nil {
			// A *url.Error quotes the whole URL, password and all; what
			// it wraps says what was wrong.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("%w: Redis setting %s: %s", apikey.ErrInvalidInput, redactRedis(setting), dbopen.Scrub(setting, err.Error()))
		}
		return opts, nil
	}
	if _, _, err := net.SplitHostPort(setting); err != nil {
		return nil, fmt.Errorf("%w: Redis setting %q: want redis://host:port/db or host:port", apikey.ErrInvalidInput, redactRedis(setting))
	}
	return &redis.Options{Addr: setting}, nil
}

// redactRedis returns a Redis setting for messages: a URL with its
// password masked, as dbopen.Redact masks a database's, and anything
// else with whatever comes before an '@' masked (user:pass@host:6379 is
// not a setting, but a user may type it).
func redactRedis(setting string) string {
	if strings.Contains(setting, "://") {
		return dbopen.Redact(setting)
	}
	if at := strings.LastIndex(setting, "@"); at >= 0 {
		return "xxxxx" + setting[at:]
	}
	return setting
}

// sortedMetadata returns metadata as "k=v" strings in key order, so text
// output does not change from run to run.
func sortedMetadata(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
