package sqlstore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// Environment variables naming the database servers the SQL tests use.
// Without them those tests skip; with them set, an unreachable server fails.
const (
	envPostgres = testkit.EnvPostgres // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	envMySQL    = testkit.EnvMySQL    // root@tcp(127.0.0.1:3306)/test, or mysql://root@127.0.0.1:3306/test
)

type backend struct {
	name    string
	dialect apikey.Dialect
	open    func(t testing.TB) *sql.DB
}

var backends = []backend{
	{"sqlite", apikey.SQLite, openSQLite},
	{"postgres", apikey.Postgres, openPostgres},
	{"mysql", apikey.MySQL, openMySQL},
}

func openPostgres(t testing.TB) *sql.DB { return openFromEnv(t, envPostgres, "pgx") }
func openMySQL(t testing.TB) *sql.DB    { return openFromEnv(t, envMySQL, "mysql") }

// forEachBackend runs fn in a subtest per backend, in parallel, each with
// its own *sql.DB.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend, db *sql.DB)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b, b.open(t))
		})
	}
}

func sqliteDSN(t testing.TB) string {
	return "file:" + filepath.Join(t.TempDir(), "keys.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
}

func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	// The first connection turns the new file to WAL mode, which takes an
	// exclusive lock that no busy timeout waits for: do it before tests
	// open connections concurrently.
	require.NoError(t, db.Ping())
	return db
}

// openFromEnv opens the server named by the DSN in env, or skips the test
// when env is empty (feedtest.DSN). A DSN that does not answer fails the
// test: a CI job that sets it must not pass by skipping.
func openFromEnv(t testing.TB, env, driverName string) *sql.DB {
	t.Helper()
	return openDSN(t, driverName, feedtest.DSN(t, env))
}

func openDSN(t testing.TB, driverName, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("cannot reach the database through driver %s: %v", driverName, err)
	}
	return db
}

// newTable returns a store on a fresh, migrated table that is dropped when
// t ends, so tests and concurrent runs never share rows.
func newTable(t testing.TB, db *sql.DB, d apikey.Dialect) (*apikey.SQLStore, string) {
	t.Helper()
	table := "apikey_test_" + strings.ToLower(rand.Text()[:12])
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	dropOnCleanup(t, db, s)
	return s, table
}

// dropOnCleanup removes everything Migrate creates for s when t ends: its
// table, its change log and, on PostgreSQL, the trigger function.
func dropOnCleanup(t testing.TB, db *sql.DB, s *apikey.SQLStore) {
	t.Cleanup(func() {
		assert.NoError(t, s.Drop(context.Background()))
	})
}

func TestSQLStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		apikeytest.TestStore(t, func(t *testing.T) apikey.Store {
			s, _ := newTable(t, db, b.dialect)
			return s
		})
	})
}

func TestNewSQLStoreInvalid(t *testing.T) {
	db := openSQLite(t)
	_, err := apikey.NewSQLStore(nil, apikey.SQLite)
	require.ErrorIs(t, err, apikey.ErrInvalidInput, "nil db")
	for _, d := range []apikey.Dialect{0, 4, -1} {
		_, err = apikey.NewSQLStore(db, d)
		require.ErrorIs(t, err, apikey.ErrInvalidInput, "dialect %v", d)
	}
	for _, name := range []string{"", "1keys", "api-keys", "keys;drop table x", "api keys", `"keys"`, "ключи", strings.Repeat("k", 64)} {
		_, err = apikey.NewSQLStore(db, apikey.SQLite, apikey.WithTable(name))
		require.ErrorIs(t, err, apikey.ErrInvalidInput, "table %q", name)
	}
	_, err = apikey.NewSQLStore(db, apikey.SQLite, nil)
	require.ErrorIs(t, err, apikey.ErrInvalidInput, "nil option")
	for _, name := range []string{"api_keys", "_k", "K9", strings.Repeat("k", 63)} {
		_, err = apikey.NewSQLStore(db, apikey.SQLite, apikey.WithTable(name))
		require.NoError(t, err, "table %q", name)
	}
}

func TestSQLStoreCreateInvalid(t *testing.T) {
	s, _ := newTable(t, openSQLite(t), apikey.SQLite)
	digest := sha256.Sum256([]byte("x"))
	for name, k := range map[string]apikey.Key{
		"empty ID":    {Digest: digest[:]},
		"long ID":     {ID: strings.Repeat("i", 65), Digest: digest[:]},
		"no digest":   {ID: "k1"},
		"long digest": {ID: "k1", Digest: make([]byte, 65)},
	} {
		require.ErrorIs(t, s.Create(context.Background(), k), apikey.ErrInvalidInput, name)
	}
	keys, err := s.List(context.Background(), apikey.ListOptions{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, keys)
}

// TestSQLStoreClosedDB checks that a closed database is an error from
// every method, never a panic, and never mistaken for a missing key.
func TestSQLStoreClosedDB(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		_, table := newTable(t, db, b.dialect)
		// Close a second handle, so db can still drop the table.
		closed := b.open(t)
		cs, err := apikey.NewSQLStore(closed, b.dialect, apikey.WithTable(table))
		require.NoError(t, err)
		require.NoError(t, closed.Close())
		ctx := context.Background()
		digest := sha256.Sum256([]byte("x"))
		notNotFound := func(err error, what string) {
			t.Helper()
			require.Error(t, err, what)
			require.NotErrorIs(t, err, apikey.ErrNotFound, what)
		}
		notNotFound(cs.Migrate(ctx), "Migrate")
		notNotFound(cs.Create(ctx, apikey.Key{ID: "k1", Digest: digest[:]}), "Create")
		_, err = cs.Get(ctx, "k1")
		notNotFound(err, "Get")
		_, err = cs.FindByDigest(ctx, digest[:])
		notNotFound(err, "FindByDigest")
		_, err = cs.List(ctx, apikey.ListOptions{Limit: 1})
		notNotFound(err, "List")
		_, err = cs.Update(ctx, "k1", func(*apikey.Key) error { return nil })
		notNotFound(err, "Update")
		notNotFound(cs.Delete(ctx, "k1"), "Delete")
		notNotFound(cs.RecordLastUsed(ctx, map[string]time.Time{"k1": time.Now()}), "RecordLastUsed")
	})
}

func TestSQLStoreMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		table := "apikey_test_" + strings.ToLower(rand.Text()[:12])
		s, err := apikey.NewSQLStore(db, b.dialect, apikey.WithTable(table))
		require.NoError(t, err)
		dropOnCleanup(t, db, s)
		// Four replicas starting at once on a fresh table.
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { assert.NoError(t, s.Migrate(ctx), "Migrate %d", i) })
		}
		wg.Wait()
		require.False(t, t.Failed())
		digest := sha256.Sum256([]byte(table))
		now := time.Now().UTC().Truncate(time.Microsecond)
		k := apikey.Key{ID: "k1", Owner: "alice", Digest: digest[:], Enabled: true, CreatedAt: now, UpdatedAt: now}
		require.NoError(t, s.Create(ctx, k))
		// Running it again keeps the table and its rows.
		require.NoError(t, s.Migrate(ctx))
		got, err := s.Get(ctx, "k1")
		require.NoError(t, err)
		require.Equal(t, "alice", got.Owner)
		// And the unique digest index exists.
		k.ID = "k2"
		require.ErrorIs(t, s.Create(ctx, k), apikey.ErrDuplicate)
	})
}

// TestSQLStoreTimes checks what the suite cannot ask of every store: times
// in another zone or with nanoseconds are stored as UTC microseconds.
func TestSQLStoreTimes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, _ := newTable(t, db, b.dialect)
		zone := time.FixedZone("UTC+5:30", 5*3600+30*60)
		created := time.Date(2024, 2, 29, 23, 59, 59, 987654321, zone)
		digest := sha256.Sum256([]byte("times"))
		require.NoError(t, s.Create(ctx, apikey.Key{ID: "k1", Digest: digest[:], CreatedAt: created, UpdatedAt: created, ExpiresAt: created, LastUsedAt: created}))
		got, err := s.Get(ctx, "k1")
		require.NoError(t, err)
		want := time.Date(2024, 2, 29, 18, 29, 59, 987654000, time.UTC)
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt, "ExpiresAt": got.ExpiresAt, "LastUsedAt": got.LastUsedAt} {
			assert.Equal(t, want, tm, name) // == on time.Time: UTC and exact
		}
		// The zero time survives NOT NULL columns too.
		digest = sha256.Sum256([]byte("zero"))
		require.NoError(t, s.Create(ctx, apikey.Key{ID: "k2", Digest: digest[:]}))
		got, err = s.Get(ctx, "k2")
		require.NoError(t, err)
		assert.True(t, got.CreatedAt.IsZero() && got.UpdatedAt.IsZero() && got.ExpiresAt.IsZero() && got.LastUsedAt.IsZero(), "%+v", got)
	})
}

// TestSQLStoreMySQLTimeSettings checks that the parseTime and loc DSN
// parameters do not change the times a MySQL store reads or writes.
func TestSQLStoreMySQLTimeSettings(t *testing.T) {
	cfg, err := mysql.ParseDSN(feedtest.DSN(t, envMySQL))
	require.NoError(t, err)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("UTC-5", -5*3600)
	}
	var stores []*apikey.SQLStore
	var table string
	for i, set := range []struct {
		parseTime bool
		loc       *time.Location
	}{{true, time.UTC}, {false, time.UTC}, {true, ny}, {false, ny}} {
		c := cfg.Clone()
		c.ParseTime, c.Loc = set.parseTime, set.loc
		db := openDSN(t, "mysql", c.FormatDSN())
		if i == 0 {
			var s *apikey.SQLStore
			s, table = newTable(t, db, apikey.MySQL)
			stores = append(stores, s)
			continue
		}
		s, err := apikey.NewSQLStore(db, apikey.MySQL, apikey.WithTable(table))
		require.NoError(t, err)
		stores = append(stores, s)
	}
	ctx := context.Background()
	tm := time.Date(2025, 7, 1, 12, 30, 45, 123456000, time.UTC)
	for i, s := range stores {
		digest := sha256.Sum256([]byte{byte(i)})
		require.NoError(t, s.Create(ctx, apikey.Key{ID: fmt.Sprint("k", i), Digest: digest[:], CreatedAt: tm, UpdatedAt: tm, ExpiresAt: tm}))
	}
	for i, s := range stores {
		keys, err := s.List(ctx, apikey.ListOptions{Limit: 10})
		require.NoError(t, err)
		require.Len(t, keys, len(stores))
		for _, k := range keys {
			assert.Equal(t, tm, k.CreatedAt, "store %d reading %s", i, k.ID)
			assert.Equal(t, tm, k.ExpiresAt, "store %d reading %s", i, k.ID)
			assert.True(t, k.LastUsedAt.IsZero())
		}
	}
	require.NoError(t, stores[3].RecordLastUsed(ctx, map[string]time.Time{"k0": tm}))
	k, err := stores[0].Get(ctx, "k0")
	require.NoError(t, err)
	assert.Equal(t, tm, k.LastUsedAt)
}

func TestSQLStoreFindByDigestUsesIndex(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db := openPostgres(t)
		s, table := newTable(t, db, apikey.Postgres)
		_, err := db.Exec(`INSERT INTO ` + table + ` (id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at)
			SELECT 'k' || lpad(g::text, 8, '0'), 'owner' || (g % 50), '', '', '[]', '{}', 'ak_x', 'sha256', sha256(g::text::bytea), true, now(), now()
			FROM generate_series(1, 5000) AS g`)
		require.NoError(t, err)
		_, err = db.Exec("ANALYZE " + table)
		require.NoError(t, err)
		digest := sha256.Sum256([]byte("4242"))
		plan := explain(t, db, "EXPLAIN "+findByDigestStatement(t, apikey.Postgres, table), digest[:])
		t.Log(plan)
		idx := table + "_digest_key"
		assert.NotContains(t, plan, "Seq Scan")
		assert.True(t, strings.Contains(plan, "Index Scan using "+idx) || strings.Contains(plan, "Index Only Scan using "+idx), "plan does not use %s:\n%s", idx, plan)
		k, err := s.FindByDigest(context.Background(), digest[:])
		require.NoError(t, err)
		require.Equal(t, "k00004242", k.ID)
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		db := openMySQL(t)
		s, table := newTable(t, db, apikey.MySQL)
		digits := "(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
		_, err := db.Exec(`INSERT INTO ` + table + ` (id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at)
			SELECT CONCAT('k', LPAD(g.n, 8, '0')), CONCAT('owner', g.n % 50), '', '', '[]', '{}', 'ak_x', 'sha256', UNHEX(SHA2(CAST(g.n AS CHAR), 256)), TRUE, NOW(6), NOW(6)
			FROM (SELECT a.n + 10*b.n + 100*c.n + 1000*d.n + 1 AS n FROM ` + digits + ` a, ` + digits + ` b, ` + digits + ` c, ` + digits + ` d) AS g
			WHERE g.n <= 5000`)
		require.NoError(t, err)
		_, err = db.Exec("ANALYZE TABLE " + table)
		require.NoError(t, err)
		digest := sha256.Sum256([]byte("4242"))
		rows := explainRows(t, db, "EXPLAIN "+findByDigestStatement(t, apikey.MySQL, table), digest[:])
		require.Len(t, rows, 1, "%v", rows)
		t.Log(rows[0])
		assert.Contains(t, []string{"const", "eq_ref", "ref"}, rows[0]["type"], "access type")
		assert.Equal(t, "digest_key", rows[0]["key"], "index used")
		k, err := s.FindByDigest(context.Background(), digest[:])
		require.NoError(t, err)
		require.Equal(t, "k00004242", k.ID)
	})
}

func explain(t testing.TB, db *sql.DB, query string, args ...any) string {
	t.Helper()
	var lines []string
	for _, r := range explainRows(t, db, query, args...) {
		for _, v := range r {
			lines = append(lines, v)
		}
	}
	return strings.Join(lines, "\n")
}

func explainRows(t testing.TB, db *sql.DB, query string, args ...any) []map[string]string {
	t.Helper()
	rows, err := db.Query(query, args...)
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSQLStoreRecordLastUsedStatements counts the statements RecordLastUsed
// sends through the driver: one per call, however many keys, until a call
// holds more than one chunk of 500.
func TestSQLStoreRecordLastUsedStatements(t *testing.T) {
	base, err := sql.Open("sqlite", "")
	require.NoError(t, err)
	conn := &countingConnector{dsn: sqliteDSN(t), drv: base.Driver()}
	require.NoError(t, base.Close())
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	s, _ := newTable(t, db, apikey.SQLite)
	ctx := context.Background()

	used := map[string]time.Time{}
	when := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	for i := range 1200 {
		id := fmt.Sprintf("k%05d", i)
		digest := sha256.Sum256([]byte(id))
		require.NoError(t, s.Create(ctx, apikey.Key{ID: id, Digest: digest[:], CreatedAt: when, UpdatedAt: when}))
		if i < 300 {
			used[id] = when.Add(time.Duration(i) * time.Microsecond)
		}
	}
	used["gone"] = when

	stmts := conn.count(func() { require.NoError(t, s.RecordLastUsed(ctx, used)) })
	require.Len(t, stmts, 1, "300 keys must take one statement: %q", stmts)
	require.True(t, strings.HasPrefix(stmts[0], "UPDATE "), stmts[0])
	keys, err := s.List(ctx, apikey.ListOptions{Limit: 2000})
	require.NoError(t, err)
	for i, k := range keys {
		if i < 300 {
			require.Equal(t, used[k.ID], k.LastUsedAt, k.ID)
		} else {
			require.True(t, k.LastUsedAt.IsZero(), k.ID)
		}
	}

	all := map[string]time.Time{}
	for _, k := range keys {
		all[k.ID] = when.Add(time.Hour)
	}
	stmts = conn.count(func() { require.NoError(t, s.RecordLastUsed(ctx, all)) })
	require.Len(t, stmts, 3, "1200 keys go in chunks of 500")
	keys, err = s.List(ctx, apikey.ListOptions{Limit: 2000})
	require.NoError(t, err)
	for _, k := range keys {
		require.Equal(t, when.Add(time.Hour), k.LastUsedAt, k.ID)
	}

	stmts = conn.count(func() { require.NoError(t, s.RecordLastUsed(ctx, nil)) })
	require.Empty(t, stmts, "nothing to record, nothing to send")
}

// findByDigestStatement returns the statement an SQLStore of dialect d on
// table sends for FindByDigest, as its driver receives it: the one query
// Verify makes on every request, which the tests EXPLAIN. It is caught on
// a connection of its own, to any database of that dialect.
func findByDigestStatement(t testing.TB, d apikey.Dialect, table string) string {
	t.Helper()
	driverName, dsn := "sqlite", sqliteDSN(t)
	switch d {
	case apikey.Postgres:
		driverName, dsn = "pgx", feedtest.DSN(t, envPostgres)
	case apikey.MySQL:
		driverName, dsn = "mysql", feedtest.DSN(t, envMySQL)
	}
	base, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	conn := &countingConnector{dsn: dsn, drv: base.Driver()}
	require.NoError(t, base.Close())
	db := sql.OpenDB(conn)
	defer db.Close()
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	require.NoError(t, err)
	// A driver that prepares (MySQL's, by default) sends it twice.
	stmts := slices.Compact(conn.count(func() { _, _ = s.FindByDigest(context.Background(), make([]byte, 32)) }))
	require.Len(t, stmts, 1, "FindByDigest sends one statement: %q", stmts)
	return stmts[0]
}

// countingConnector opens connections of an underlying driver and records
// every statement sent through them while counting is on.
type countingConnector struct {
	dsn string
	drv driver.Driver

	mu       sync.Mutex
	counting bool
	stmts    []string
}

func (c *countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: c}, nil
}

func (c *countingConnector) Driver() driver.Driver { return c.drv }

func (c *countingConnector) record(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counting {
		c.stmts = append(c.stmts, query)
	}
}

// count returns the statements sent while fn ran.
func (c *countingConnector) count(fn func()) []string {
	c.mu.Lock()
	c.counting, c.stmts = true, nil
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counting = false
	return c.stmts
}

type countingConn struct {
	driver.Conn
	c *countingConnector
}

func (cc *countingConn) Prepare(query string) (driver.Stmt, error) {
	cc.c.record(query)
	return cc.Conn.Prepare(query)
}

func (cc *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	cc.c.record(query)
	if p, ok := cc.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, query)
	}
	return cc.Conn.Prepare(query)
}

func (cc *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := cc.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip // database/sql then prepares, which is counted
	}
	cc.c.record(query)
	return e.ExecContext(ctx, query, args)
}

func (cc *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := cc.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	cc.c.record(query)
	return q.QueryContext(ctx, query, args)
}

func (cc *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	b, ok := cc.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, fmt.Errorf("countingConn: %T has no BeginTx", cc.Conn)
	}
	return b.BeginTx(ctx, opts)
}

func TestCachedSQLStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		apikeytest.TestStore(t, func(t *testing.T) apikey.Store {
			s, _ := newTable(t, db, b.dialect)
			return cache.New(s)
		})
	})
}

// Review finding 5: IDs and cursors no store could hold are answered as
// not found or invalid on every backend, never as a store failure.
func TestManagerRefusesMalformedIDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, _ := newTable(t, db, b.dialect)
		m := newManager(t, s)
		for _, id := range []string{"", "\xff\xfe", "a\x00b", strings.Repeat("k", 65)} {
			_, err := m.Get(ctx, id)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Get %q", id)
			_, err = m.Disable(ctx, id)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Disable %q", id)
			_, err = m.Update(ctx, id, apikey.SetName("x"))
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Update %q", id)
			_, _, err = m.Rotate(ctx, id, 0)
			assert.ErrorIs(t, err, apikey.ErrNotFound, "Rotate %q", id)
			assert.ErrorIs(t, m.Revoke(ctx, id), apikey.ErrNotFound, "Revoke %q", id)
		}
		for _, opts := range []apikey.ListOptions{{After: "a\x00"}, {Owner: "\xff"}} {
			_, err := m.List(ctx, opts)
			assert.ErrorIs(t, err, apikey.ErrInvalidInput, "List %+v", opts)
		}
	})
}

// No column of any row of the key table or its change log, on any backend,
// holds the plaintext of any key issued, or a run of 8 of its secret
// characters (the stored Start holds the prefix and 4 of them).
func TestSQLRowsNeverHoldPlaintext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, table := newTable(t, db, b.dialect)
		m := newManager(t, s)
		var issued []string // every plaintext: created and rotated
		for i := range 5 {
			plain, k, err := m.Create(ctx, apikey.NewKey{Owner: "alice", Name: "n", Metadata: map[string]string{"m": "v"}})
			require.NoError(t, err)
			_, err = m.Verify(ctx, plain)
			require.NoError(t, err)
			next, nk, err := m.Rotate(ctx, k.ID, time.Hour)
			require.NoError(t, err)
			_, err = m.Verify(ctx, next)
			require.NoError(t, err)
			if i%2 == 0 {
				_, err = m.Disable(ctx, nk.ID)
				require.NoError(t, err)
			}
			issued = append(issued, plain, next)
			rememberKeys(plain, next)
		}
		require.NoError(t, m.Flush(ctx))
		const run = 8
		var runs []string
		for _, plain := range issued {
			secret := plain[len("ak_"):]
			for i := 0; i+run <= len(secret); i++ {
				runs = append(runs, secret[i:i+run])
			}
		}
		scan := func(table string) int {
			rows, err := db.Query("SELECT * FROM " + table)
			require.NoError(t, err)
			defer rows.Close()
			cols, err := rows.Columns()
			require.NoError(t, err)
			n := 0
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				row := fmt.Sprintf("%v %s", vals, vals) // []byte columns as numbers and as text
				for _, plain := range issued {
					require.NotContains(t, row, plain, "a row of %s holds a key", table)
				}
				for _, r := range runs {
					require.NotContains(t, row, r, "a row of %s holds part of a key", table)
				}
				n++
			}
			require.NoError(t, rows.Err())
			return n
		}
		assert.Equal(t, len(issued), scan(table), "one row per key issued")
		assert.GreaterOrEqual(t, scan(s.ChangesTable()), 8, "the rotations and disables are logged")
	})
}

// Create, verify, disable and rotate from many goroutines on every store,
// with and without the cache, under -race.
func TestManagerConcurrencyOnEveryStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		for _, cached := range []bool{false, true} {
			s, _ := newTable(t, db, b.dialect)
			var store apikey.Store = s
			if cached {
				store = cache.New(s)
			}
			m := newManager(t, store, apikey.WithLastUsedInterval(20*time.Millisecond))
			ctx := context.Background()
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Go(func() {
					for i := range 8 {
						plain, k, err := m.Create(ctx, apikey.NewKey{Owner: fmt.Sprint("o", g), MaxUses: 100})
						if !assert.NoError(t, err) {
							return
						}
						rememberKeys(plain)
						_, err = m.Verify(ctx, plain)
						assert.NoError(t, err)
						switch i % 3 {
						case 0:
							_, err = m.Disable(ctx, k.ID)
							assert.NoError(t, err)
							_, err = m.Verify(ctx, plain)
							assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
						case 1:
							next, _, err := m.Rotate(ctx, k.ID, 0)
							assert.NoError(t, err)
							rememberKeys(next)
							_, err = m.Verify(ctx, next)
							assert.NoError(t, err)
							_, err = m.Verify(ctx, plain)
							assert.ErrorIs(t, err, apikey.ErrKeyExpired)
						}
					}
				})
			}
			wg.Wait()
			require.NoError(t, m.Close())
			page, err := m.List(ctx, apikey.ListOptions{Limit: apikey.MaxListLimit})
			require.NoError(t, err)
			assert.Len(t, page.Keys, 4*8+4*3, "every created and rotated key is stored once")
		}
	})
}

// oldSchema is the CREATE TABLE each dialect's Migrate ran before the
// created_by and disabled_by columns, copied as it was ("%s" is the table).
var oldSchema = map[apikey.Dialect]string{
	apikey.Postgres: `CREATE TABLE IF NOT EXISTS %s (
	id VARCHAR(64) COLLATE "C" NOT NULL PRIMARY KEY,
	owner TEXT COLLATE "C" NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	scopes TEXT NOT NULL,
	metadata TEXT NOT NULL,
	start TEXT NOT NULL,
	hash TEXT NOT NULL,
	digest BYTEA NOT NULL,
	enabled BOOLEAN NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ,
	rate_limit INTEGER NOT NULL DEFAULT 0,
	rate_window_us BIGINT NOT NULL DEFAULT 0,
	allowed_ips TEXT,
	remaining_uses BIGINT,
	rotated_to VARCHAR(64) NOT NULL DEFAULT ''
)`,
	apikey.MySQL: `CREATE TABLE IF NOT EXISTS %s (
	id VARBINARY(64) NOT NULL,
	owner VARBINARY(1024) NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	scopes MEDIUMTEXT NOT NULL,
	metadata MEDIUMTEXT NOT NULL,
	start VARCHAR(255) NOT NULL,
	hash VARCHAR(255) NOT NULL,
	digest VARBINARY(64) NOT NULL,
	enabled BOOLEAN NOT NULL,
	created_at DATETIME(6) NOT NULL,
	updated_at DATETIME(6) NOT NULL,
	expires_at DATETIME(6) NULL,
	last_used_at DATETIME(6) NULL,
	rate_limit INT NOT NULL DEFAULT 0,
	rate_window_us BIGINT NOT NULL DEFAULT 0,
	allowed_ips MEDIUMTEXT NULL,
	remaining_uses BIGINT NULL,
	rotated_to VARBINARY(64) NOT NULL DEFAULT '',
	PRIMARY KEY (id),
	UNIQUE KEY digest_key (digest),
	KEY owner_id_idx (owner, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
	apikey.SQLite: `CREATE TABLE IF NOT EXISTS %s (
	id TEXT NOT NULL PRIMARY KEY,
	owner TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT NOT NULL,
	scopes TEXT NOT NULL,
	metadata TEXT NOT NULL,
	start TEXT NOT NULL,
	hash TEXT NOT NULL,
	digest BLOB NOT NULL,
	enabled INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	expires_at INTEGER,
	last_used_at INTEGER,
	rate_limit INTEGER NOT NULL DEFAULT 0,
	rate_window_us INTEGER NOT NULL DEFAULT 0,
	allowed_ips TEXT,
	remaining_uses INTEGER,
	rotated_to TEXT NOT NULL DEFAULT ''
)`,
}

// TestSQLStoreMigrateAddsColumns upgrades a table made by the previous
// version, with a key in it: Migrate (from several processes at once)
// adds the new columns, the old key reads back whole with them empty, the
// change log's triggers, made before the columns, still log a disable,
// and the new columns round-trip.
func TestSQLStoreMigrateAddsColumns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		table := "apikey_test_" + strings.ToLower(rand.Text()[:12])
		s, err := apikey.NewSQLStore(db, b.dialect, apikey.WithTable(table))
		require.NoError(t, err)
		dropOnCleanup(t, db, s)
		_, err = db.ExecContext(ctx, fmt.Sprintf(oldSchema[b.dialect], table))
		require.NoError(t, err)

		created := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
		digest := sha256.Sum256([]byte(table))
		var at any = created
		switch b.dialect {
		case apikey.MySQL:
			at = created.Format("2006-01-02 15:04:05.000000")
		case apikey.SQLite:
			at = created.UnixMicro()
		}
		insert := "INSERT INTO " + table + ` (id, owner, name, description, scopes, metadata, start, hash, digest,
			enabled, created_at, updated_at, rate_limit, rate_window_us, allowed_ips, remaining_uses, rotated_to)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		if b.dialect == apikey.Postgres {
			for i := 1; strings.Contains(insert, "?"); i++ {
				insert = strings.Replace(insert, "?", fmt.Sprintf("$%d", i), 1)
			}
		}
		_, err = db.ExecContext(ctx, insert, "old-1", "alice", "ci", "from before", `["bots:read"]`, `{"team":"x"}`,
			"ak_4qGZ", "sha256", digest[:], true, at, at, 7, int64(60_000_000), `["10.0.0.0/8"]`, int64(3), "")
		require.NoError(t, err)

		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { assert.NoError(t, s.Migrate(ctx), "Migrate %d", i) })
		}
		wg.Wait()
		require.False(t, t.Failed())
		require.NoError(t, s.Migrate(ctx), "again, on an upgraded table")

		got, err := s.Get(ctx, "old-1")
		require.NoError(t, err)
		assert.Equal(t, "alice", got.Owner)
		assert.Equal(t, "from before", got.Description)
		assert.Equal(t, []string{"bots:read"}, got.Scopes)
		assert.Equal(t, apikey.RateLimit{Limit: 7, Window: time.Minute}, got.RateLimit)
		assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, got.AllowedIPs)
		require.NotNil(t, got.RemainingUses)
		assert.Equal(t, int64(3), *got.RemainingUses)
		assert.True(t, got.CreatedAt.Equal(created), "created_at %v", got.CreatedAt)
		assert.Empty(t, got.CreatedBy)
		assert.Empty(t, got.DisabledBy)
		found, err := s.FindByDigest(ctx, digest[:])
		require.NoError(t, err)
		assert.Equal(t, "old-1", found.ID)

		// The triggers made before the new columns still log a disable.
		before, err := s.LastChange(ctx)
		require.NoError(t, err)
		_, err = s.Update(ctx, "old-1", func(k *apikey.Key) error {
			k.Enabled, k.DisabledBy = false, "key-of-bob"
			return nil
		})
		require.NoError(t, err)
		after, err := s.LastChange(ctx)
		require.NoError(t, err)
		assert.Greater(t, after, before, "a disable is logged")
		// The new columns alone play no part in verification: not logged.
		_, err = s.Update(ctx, "old-1", func(k *apikey.Key) error {
			k.CreatedBy, k.DisabledBy = "key-of-carol", ""
			return nil
		})
		require.NoError(t, err)
		last, err := s.LastChange(ctx)
		require.NoError(t, err)
		assert.Equal(t, after, last, "created_by and disabled_by are not watched")
		got, err = s.Get(ctx, "old-1")
		require.NoError(t, err)
		assert.Equal(t, "key-of-carol", got.CreatedBy)
		assert.False(t, got.Enabled)

		// A key made after the upgrade keeps both.
		d2 := sha256.Sum256([]byte(table + "2"))
		now := time.Now().UTC().Truncate(time.Microsecond)
		require.NoError(t, s.Create(ctx, apikey.Key{ID: "new-1", Owner: "alice", Digest: d2[:], CreatedAt: now, UpdatedAt: now,
			CreatedBy: "old-1", DisabledBy: "old-1"}))
		got, err = s.Get(ctx, "new-1")
		require.NoError(t, err)
		assert.Equal(t, "old-1", got.CreatedBy)
		assert.Equal(t, "old-1", got.DisabledBy)

		// Metering works on the upgraded table: the old key reads with no
		// named limits and no refill, takes both, spends by its refill,
		// and its owner can have a policy in the owners table Migrate made.
		got, err = s.Get(ctx, "old-1")
		require.NoError(t, err)
		assert.Empty(t, got.RateLimits)
		assert.Nil(t, got.Refill)
		assert.Zero(t, got.UsesSpent)
		limits := []apikey.RateLimit{{Name: "daily", Limit: 1000, Window: 24 * time.Hour}}
		refill := &apikey.Refill{Amount: 5, Interval: apikey.RefillDaily}
		_, err = s.Update(ctx, "old-1", func(k *apikey.Key) error {
			k.Enabled, k.DisabledBy = true, ""
			k.RateLimits, k.Refill = limits, refill
			return nil
		})
		require.NoError(t, err)
		left, err := s.SpendUse(ctx, apikey.Spend{ID: "old-1", N: 1, Now: time.Now(), Refill: refill})
		require.NoError(t, err)
		assert.Equal(t, int64(4), left, "refilled to 5 on its first spend, then one spent")
		got, err = s.Get(ctx, "old-1")
		require.NoError(t, err)
		assert.Equal(t, limits, got.RateLimits)
		assert.Equal(t, refill, got.Refill)
		assert.Equal(t, int64(1), got.UsesSpent)
		uses := int64(10)
		require.NoError(t, s.PutOwner(ctx, apikey.OwnerPolicy{Owner: "alice", RemainingUses: &uses, MaxKeys: 3}))
		owners, err := s.Owners(ctx)
		require.NoError(t, err)
		require.Len(t, owners, 1)
		assert.Equal(t, 3, owners[0].MaxKeys)
	})
}
