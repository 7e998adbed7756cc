// Command sql is a net/http service whose keys live in a SQL database and
// are made with the apikey command, the way a production service runs:
//
//	go run ./cmd/apikey create --owner alice --name demo   # prints a key, once
//	go run ./examples/sql                                  # 127.0.0.1:8080
//	curl -H 'X-API-Key: <key>' http://127.0.0.1:8080/
//
// Both read the database from --db, else $APIKEY_DB, else the SQLite file
// ./apikey.db, so with no setting at all they share a file in the current
// directory. PostgreSQL and MySQL work the same way:
//
//	export APIKEY_DB='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Every route needs a key. Verifications are cached (cache.New)
// so a known key costs no query. A change feed (LISTEN/NOTIFY on
// PostgreSQL, polling the change log every second elsewhere) drops a key
// from the cache when the apikey command, or any other process, disables,
// rotates or revokes it, so the change applies here within about a second;
// while the feed is down, cached keys live one second at most, and the
// cache TTL (-cache-ttl, 10s by default) bounds every entry. Last-used
// times are written every 30 seconds and at shutdown, after the requests
// under way are answered.
//
// The service accepts keys with the prefixes in -prefixes (ak, the apikey
// command's default): add any prefix given to "apikey create --prefix".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/serving"
	"github.com/go-apikey/apikey/pgfeed"
	"github.com/go-apikey/apikey/pollfeed"
)

// config is what the flags say.
type config struct {
	addr string
	// db is the database setting, resolved from -db or APIKEY_DB;
	// dbFromFlag says it came from -db, so the apikey command needs it
	// too (it reads APIKEY_DB itself).
	db         string
	dbFromFlag bool
	// prefixes are the key prefixes accepted; the first is the one keys
	// made here would get.
	prefixes []string
	cacheTTL time.Duration
	// table is the key table (apikey.DefaultSQLTable unless -table).
	table string
	// logs is where the Manager logs why requests are refused with 503
	// (os.Stderr when nil).
	logs io.Writer

	// Test-only knobs, which no flag sets. fallbackTTL is how long cached
	// keys live while the change feed is down (zero:
	// cache.DefaultFallbackTTL); a test that sets it and cacheTTL long
	// can see a change only through the feed. wrapFeed, when set, wraps
	// the change feed, so a test can tell when it has connected.
	// wrapHandler, when set, wraps the server's handler, so a test can
	// hold a request before the middleware sees it.
	fallbackTTL time.Duration
	wrapFeed    func(cache.Feed) cache.Feed
	wrapHandler func(http.Handler) http.Handler
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := start(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// start is the program: it reads the flags in args and the environment
// through getenv, then serves until ctx is done. It returns the exit
// code: 0, 1 when the service failed, 2 for a bad command line.
func start(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	db := fs.String("db", "", "key database: postgres://… or mysql://… (or the driver's DSN), or a SQLite file (default $APIKEY_DB, else ./apikey.db)")
	prefixes := fs.String("prefixes", apikey.DefaultPrefix, "comma-separated key prefixes to accept")
	cacheTTL := fs.Duration("cache-ttl", cache.DefaultTTL, "how long a verified key may be cached: the bound on seeing a change made elsewhere if the change feed fails unnoticed (with the feed up, changes apply within about a second)")
	table := fs.String("table", apikey.DefaultSQLTable, "the table holding the keys, as the apikey command's --table")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package has said why, and how to call
	}
	logger := log.New(stderr, "", log.LstdFlags)
	if fs.NArg() > 0 {
		logger.Printf("unexpected arguments: %q", fs.Args())
		return 2
	}
	p, err := parsePrefixes(*prefixes)
	if err != nil {
		logger.Print(err)
		return 2
	}
	cfg := config{
		addr:       *addr,
		db:         dbopen.Setting(*db, getenv),
		dbFromFlag: *db != "",
		prefixes:   p,
		cacheTTL:   *cacheTTL,
		table:      *table,
		logs:       stderr,
	}
	if err := run(ctx, cfg, stdout); err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

// changeFeed returns the feed that fits the database: LISTEN/NOTIFY on
// PostgreSQL, which hears changes at once, and polling of the change log
// that Migrate set up everywhere else.
func changeFeed(setting string, dialect apikey.Dialect, store *apikey.SQLStore) (cache.Feed, string, error) {
	if dialect == apikey.Postgres {
		f, err := pgfeed.New(setting, store)
		if err != nil {
			return nil, "", err
		}
		return f, "PostgreSQL LISTEN/NOTIFY", nil
	}
	return pollfeed.New(store), fmt.Sprintf("polling the change log every %s", pollfeed.DefaultInterval), nil
}

// parsePrefixes splits the -prefixes flag and checks each prefix, so a
// typo is an error at start rather than a panic in apikey.New.
func parsePrefixes(s string) ([]string, error) {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if err := apikey.ValidatePrefix(p); err != nil {
			return nil, fmt.Errorf("-prefixes: %w", err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("-prefixes: give at least one prefix")
	}
	return out, nil
}

// run serves on cfg.addr until ctx is done, after printing where its keys
// come from and how to try it to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.cacheTTL <= 0 {
		return errors.New("-cache-ttl must be positive")
	}
	db, dialect, err := dbopen.Open(ctx, cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.table == "" {
		cfg.table = apikey.DefaultSQLTable
	}
	store, err := apikey.NewSQLStore(db, dialect, apikey.WithTable(cfg.table))
	if err != nil {
		return err
	}
	// The service creates the table too, so it starts on an empty
	// database; on an existing table Migrate adds only what it lacks.
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	// The change feed that fits the database tells this process at once
	// about keys disabled, rotated or revoked anywhere, by the apikey
	// command included: NOTIFY on PostgreSQL, polling the change log
	// (every second) elsewhere.
	feed, feedName, err := changeFeed(cfg.db, dialect, store)
	if err != nil {
		return err
	}
	if cfg.wrapFeed != nil {
		feed = cfg.wrapFeed(feed)
	}
	cacheOpts := []cache.Option{cache.WithTTL(cfg.cacheTTL), cache.WithFeed(feed)}
	if cfg.fallbackTTL > 0 {
		cacheOpts = append(cacheOpts, cache.WithFallbackTTL(cfg.fallbackTTL))
	}
	cached := cache.New(store, cacheOpts...)
	defer cached.Close()
	logs := cfg.logs
	if logs == nil {
		logs = os.Stderr
	}
	// The Manager's logger says why a request is refused with 503 (the
	// database is down, a table is missing), one line per cause every
	// ten seconds at most.
	keys := apikey.New(cached, apikey.WithPrefix(cfg.prefixes[0]), apikey.WithAcceptedPrefixes(cfg.prefixes[1:]...),
		apikey.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	defer keys.Close() // writes the last batch of last-used times, before db.Close
	count, err := countKeys(ctx, keys)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", whoami)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Listening on %s\n", base)
	fmt.Fprintf(out, "Keys from %s (table %s): %s; accepted prefixes: %s\n",
		dbopen.Redact(cfg.db), cfg.table, count, strings.Join(cfg.prefixes, ", "))
	fmt.Fprintf(out, "Changes reach this server by %s; if that is down, within %s (the cache TTL).\n\n", feedName, cfg.cacheTTL)
	fmt.Fprintf(out, "Create a key with the apikey command, then call the service with it:\n")
	for _, line := range walkthrough(cfg, base) {
		fmt.Fprintf(out, "  %s\n", line)
	}

	// Every route, known or not, is behind the middleware: an unknown
	// path answers 401 without a key and 404 only with one.
	handler := keys.Middleware()(mux)
	if cfg.wrapHandler != nil {
		handler = cfg.wrapHandler(handler)
	}
	// Serve until ctx is done, then answer the requests under way before
	// the deferred Closes run: a request still verifying would find the
	// database closed, and its last-used time would miss the final batch.
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	return serving.Serve(ctx, srv, ln)
}

// walkthrough returns the commands a new user types: create a key, call
// the service, disable the key.
func walkthrough(cfg config, base string) []string {
	cmd := "go run ./cmd/apikey"
	if cfg.dbFromFlag {
		// Redacted: the user types the password back in, rather than
		// this program printing it.
		cmd += " --db " + shellQuote(dbopen.Redact(cfg.db))
	}
	if cfg.table != "" && cfg.table != apikey.DefaultSQLTable {
		cmd += " --table " + cfg.table
	}
	return []string{
		cmd + " create --owner alice --name demo",
		"curl -H 'X-API-Key: <key>' " + base + "/",
		cmd + " disable <id>    # refused here within about a second: the change feed",
	}
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`)

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// countKeys says how many keys the database holds, reading at most one
// page: enough to tell a new user whether the service has keys yet.
func countKeys(ctx context.Context, keys *apikey.Manager) (string, error) {
	page, err := keys.List(ctx, apikey.ListOptions{Limit: apikey.MaxListLimit})
	if err != nil {
		return "", err
	}
	switch n := len(page.Keys); {
	case page.Next != "":
		return fmt.Sprintf("more than %d keys", n), nil
	case n == 1:
		return "1 key", nil
	default:
		return fmt.Sprintf("%d keys", n), nil
	}
}

// whoami answers with the principal the key belongs to.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		// No key was verified for this request (the middleware is
		// missing, or skipped it): never serve it as nobody.
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	scopes := p.Scopes()
	if scopes == nil {
		scopes = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"key_id": p.KeyID, "owner": p.Owner, "name": p.Name, "scopes": scopes})
}
