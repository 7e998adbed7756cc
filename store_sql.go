package apikey

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL flavour an [SQLStore] speaks. The zero value is not a
// dialect, so forgetting to choose one is an error rather than a guess.
type Dialect int

// The dialects SQLStore supports.
const (
	// Postgres is PostgreSQL, through a database/sql driver such as
	// github.com/jackc/pgx/v5/stdlib.
	Postgres Dialect = iota + 1
	// MySQL is MySQL or MariaDB, through github.com/go-sql-driver/mysql.
	// The parseTime and loc DSN parameters may be set either way: times are
	// written and read as UTC wall clocks in DATETIME(6) columns, which the
	// server never converts.
	MySQL
	// SQLite is SQLite 3.33 or later (for UPDATE ... FROM), through a driver
	// such as modernc.org/sqlite. Set a busy timeout in the DSN (with
	// modernc.org/sqlite: _pragma=busy_timeout(5000)), or concurrent writers
	// fail with "database is locked" instead of waiting.
	SQLite
)

// String returns the dialect's name, for messages.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// SQLOption configures an SQLStore in [NewSQLStore].
type SQLOption func(*sqlConfig)

type sqlConfig struct {
	table string
}

// DefaultSQLTable is the table an SQLStore uses unless [WithTable] names
// another.
const DefaultSQLTable = "api_keys"

// WithTable makes the store use the named table instead of DefaultSQLTable,
// for example to keep several stores in one database. The name is used
// unquoted in SQL, so NewSQLStore accepts only 1 to 63 ASCII letters, digits
// and underscores, not starting with a digit; it must not be a reserved
// word of the database either (such as "user" or "order").
func WithTable(name string) SQLOption {
	return func(c *sqlConfig) { c.table = name }
}

var sqlTableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Column limits enforced before the database sees a key, so an oversized
// value is ErrInvalidInput on every dialect instead of a dialect-specific
// truncation or error.
const (
	maxSQLIDLen     = 64
	maxSQLDigestLen = 64
)

// SQLStore is a Store kept in one table of a SQL database through
// database/sql, so several processes can share keys. It imports no driver:
// open the *sql.DB with the driver of your choice and name its [Dialect].
// Create the table with [SQLStore.Migrate] or with your own migrations
// (copy the statements Migrate runs).
//
// Migrate also creates a change log beside the table, "<table>_changes",
// which triggers fill on every UPDATE that changes whether or how a key
// verifies and on every DELETE, whoever the writer is: this store, another
// process, the apikey command or a hand-written statement. Change feeds
// (packages pollfeed and pgfeed) read it to tell every cache of a key's
// change within their bound; see [SQLStore.Changes].
type SQLStore struct {
	db      *sql.DB
	dialect Dialect
	table   string
	q       sqlQueries
}

var _ UsageStore = (*SQLStore)(nil)

// sqlQueries holds every statement text, built once from the table name.
type sqlQueries struct {
	migrate []string
	create  string
	get     string
	// getForUpdate is get with a row lock, where the dialect has one.
	getForUpdate string
	// lockRow is run first in an Update transaction on SQLite, which has no
	// row locks: a write takes the database write lock before the read,
	// so two Updates cannot read the same old record.
	lockRow      string
	findByDigest string
	list         string
	listByOwner  string
	update       string
	delete       string
	// spendUse takes one use where one is left; spendMySQL does the same on
	// MySQL, which has no UPDATE ... RETURNING, by setting LAST_INSERT_ID.
	// spendState reads what decides why no use was spent.
	spendUse   string
	spendMySQL string
	spendState string
	// lastUsedHead, lastUsedRow, lastUsedSep and lastUsedTail are joined
	// into one statement per RecordLastUsed chunk; lastUsedRow holds two
	// placeholders (ID, time) written as "?" and renumbered on Postgres.
	lastUsedHead, lastUsedRow, lastUsedSep, lastUsedTail string

	// The change log (see changelog.go): its triggers, created by Migrate
	// when they do not exist (MySQL has no CREATE TRIGGER IF NOT EXISTS
	// before 8.0.29), and the statements that read and prune it.
	triggers                          []sqlTrigger
	changes, lastChange, pruneChanges string
	notifyChannel                     string

	// addedColumns are the columns added to the table since its first
	// release, which Migrate adds to a table an older version made;
	// hasColumn counts a column of the table by name (one placeholder).
	addedColumns []sqlColumn
	hasColumn    string
}

// sqlColumn is a column Migrate adds to an existing table: its name and
// its definition in the dialect.
type sqlColumn struct{ name, def string }

const sqlColumns = "id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at, expires_at, last_used_at, rate_limit, rate_window_us, allowed_ips, remaining_uses, rotated_to, created_by, disabled_by"

// NewSQLStore returns a Store on db using the given dialect and table
// (DefaultSQLTable unless [WithTable] says otherwise). It does no I/O: call
// [SQLStore.Migrate] to create the table. It returns an error wrapping
// ErrInvalidInput for a nil db, an unknown dialect or a bad table name.
func NewSQLStore(db *sql.DB, dialect Dialect, opts ...SQLOption) (*SQLStore, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil *sql.DB", ErrInvalidInput)
	}
	switch dialect {
	case Postgres, MySQL, SQLite:
	default:
		return nil, fmt.Errorf("%w: unknown SQL dialect %v", ErrInvalidInput, dialect)
	}
	cfg := sqlConfig{table: DefaultSQLTable}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil SQLOption", ErrInvalidInput)
		}
		o(&cfg)
	}
	if !sqlTableName.MatchString(cfg.table) {
		return nil, fmt.Errorf("%w: table name %q must be 1 to 63 ASCII letters, digits and '_', not starting with a digit", ErrInvalidInput, cfg.table)
	}
	return &SQLStore{db: db, dialect: dialect, table: cfg.table, q: buildQueries(dialect, cfg.table)}, nil
}

func buildQueries(d Dialect, t string) sqlQueries {
	var q sqlQueries
	q.create = "INSERT INTO " + t + " (" + sqlColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	q.get = "SELECT " + sqlColumns + " FROM " + t + " WHERE id = ?"
	q.getForUpdate = q.get + " FOR UPDATE"
	q.findByDigest = "SELECT " + sqlColumns + " FROM " + t + " WHERE digest = ?"
	q.list = "SELECT " + sqlColumns + " FROM " + t + " WHERE id > ? ORDER BY id LIMIT ?"
	q.listByOwner = "SELECT " + sqlColumns + " FROM " + t + " WHERE owner = ? AND id > ? ORDER BY id LIMIT ?"
	q.update = "UPDATE " + t + " SET owner = ?, name = ?, description = ?, scopes = ?, metadata = ?, enabled = ?, expires_at = ?, updated_at = ?, rate_limit = ?, rate_window_us = ?, allowed_ips = ?, remaining_uses = ?, rotated_to = ?, created_by = ?, disabled_by = ? WHERE id = ?"
	q.delete = "DELETE FROM " + t + " WHERE id = ?"
	// A use is spent only from a key that may be used: enabled, not
	// rotated, not expired. The store is the authority here, not the
	// caller's (possibly cached) copy of the key.
	spendable := " WHERE id = ? AND remaining_uses > 0 AND enabled AND rotated_to = '' AND (expires_at IS NULL OR expires_at > ?)"
	q.spendUse = "UPDATE " + t + " SET remaining_uses = remaining_uses - 1" + spendable + " RETURNING remaining_uses"
	q.spendMySQL = "UPDATE " + t + " SET remaining_uses = LAST_INSERT_ID(remaining_uses - 1)" + spendable
	q.spendState = "SELECT remaining_uses, enabled, rotated_to, expires_at FROM " + t + " WHERE id = ?"
	digestIdx, ownerIdx := indexName(t, "_digest_key"), indexName(t, "_owner_id_idx")

	// Each dialect's RecordLastUsed joins the table to a list of (id, time)
	// rows, so any number of keys is one statement that touches only the
	// rows whose time moves forward.
	forward := " (t.last_used_at IS NULL OR t.last_used_at < v.ts)"
	switch d {
	case Postgres:
		// COLLATE "C" makes ORDER BY id and id > $1 compare bytes, as
		// Go strings do, whatever the database's default collation.
		q.migrate = []string{
			`CREATE TABLE IF NOT EXISTS ` + t + ` (
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
	rotated_to VARCHAR(64) NOT NULL DEFAULT '',
	created_by VARCHAR(64) COLLATE "C" NOT NULL DEFAULT '',
	disabled_by VARCHAR(64) COLLATE "C" NOT NULL DEFAULT ''
)`,
			"CREATE UNIQUE INDEX IF NOT EXISTS " + digestIdx + " ON " + t + " (digest)",
			"CREATE INDEX IF NOT EXISTS " + ownerIdx + " ON " + t + " (owner, id)",
		}
		q.addedColumns = []sqlColumn{
			{"created_by", `VARCHAR(64) COLLATE "C" NOT NULL DEFAULT ''`},
			{"disabled_by", `VARCHAR(64) COLLATE "C" NOT NULL DEFAULT ''`},
		}
		// The table's name as its other statements resolve it, unquoted.
		q.hasColumn = "SELECT COUNT(*) FROM pg_attribute WHERE attrelid = '" + t + "'::regclass AND attname = ? AND NOT attisdropped"
		q.lastUsedHead = "UPDATE " + t + " AS t SET last_used_at = v.ts FROM (VALUES "
		q.lastUsedRow = "(?::text, ?::timestamptz)"
		q.lastUsedSep = ", "
		q.lastUsedTail = ") AS v(id, ts) WHERE t.id = v.id AND" + forward
	case MySQL:
		// VARBINARY makes id and owner compare bytes exactly: utf8mb4
		// collations ignore case or trailing spaces, which would make
		// "k1" and "K1 " the same ID. Indexes go inside CREATE TABLE
		// because MySQL has no CREATE INDEX IF NOT EXISTS.
		q.migrate = []string{
			"CREATE TABLE IF NOT EXISTS " + t + ` (
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
	created_by VARBINARY(64) NOT NULL DEFAULT '',
	disabled_by VARBINARY(64) NOT NULL DEFAULT '',
	PRIMARY KEY (id),
	UNIQUE KEY digest_key (digest),
	KEY owner_id_idx (owner, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		}
		q.addedColumns = []sqlColumn{
			{"created_by", "VARBINARY(64) NOT NULL DEFAULT ''"},
			{"disabled_by", "VARBINARY(64) NOT NULL DEFAULT ''"},
		}
		q.hasColumn = "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '" + t + "' AND COLUMN_NAME = ?"
		q.lastUsedHead = "UPDATE " + t + " AS t JOIN ("
		q.lastUsedRow = "SELECT ? AS id, CAST(? AS DATETIME(6)) AS ts"
		q.lastUsedSep = " UNION ALL "
		q.lastUsedTail = ") AS v ON t.id = v.id SET t.last_used_at = v.ts WHERE" + forward
	case SQLite:
		// Times are INTEGER microseconds since the Unix epoch (UTC): they
		// sort and compare as numbers, and no driver guesses a zone.
		q.migrate = []string{
			"CREATE TABLE IF NOT EXISTS " + t + ` (
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
	rotated_to TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL DEFAULT '',
	disabled_by TEXT NOT NULL DEFAULT ''
)`,
			"CREATE UNIQUE INDEX IF NOT EXISTS " + digestIdx + " ON " + t + " (digest)",
			"CREATE INDEX IF NOT EXISTS " + ownerIdx + " ON " + t + " (owner, id)",
		}
		q.addedColumns = []sqlColumn{
			{"created_by", "TEXT NOT NULL DEFAULT ''"},
			{"disabled_by", "TEXT NOT NULL DEFAULT ''"},
		}
		q.hasColumn = "SELECT COUNT(*) FROM pragma_table_info('" + t + "') WHERE name = ?"
		q.getForUpdate = q.get
		q.lockRow = "UPDATE " + t + " SET id = id WHERE id = ?"
		q.lastUsedHead = "UPDATE " + t + " AS t SET last_used_at = v.ts FROM (SELECT column1 AS id, column2 AS ts FROM (VALUES "
		q.lastUsedRow = "(?, ?)"
		q.lastUsedSep = ", "
		q.lastUsedTail = ")) AS v WHERE t.id = v.id AND" + forward
	}
	buildChangeLog(&q, d, t)
	if d == Postgres {
		for _, p := range []*string{&q.create, &q.get, &q.getForUpdate, &q.findByDigest, &q.list, &q.listByOwner, &q.update, &q.delete, &q.spendUse, &q.spendState, &q.changes, &q.pruneChanges, &q.hasColumn} {
			*p = numberPlaceholders(*p, 1)
		}
	}
	return q
}

// indexName returns table+suffix, shortened with a hash of the table name
// when it would pass PostgreSQL's 63-byte limit: PostgreSQL silently
// truncates longer names, and two long table names sharing a prefix would
// then share one index name, so IF NOT EXISTS would skip the second index.
func indexName(table, suffix string) string {
	const maxLen = 63
	if len(table)+len(suffix) <= maxLen {
		return table + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := fmt.Sprintf("_%08x", h.Sum32())
	return table[:maxLen-len(suffix)-len(tag)] + tag + suffix
}

// numberPlaceholders rewrites each "?" in query as $n, counting from first.
// The queries it sees are built here and hold no "?" in literals.
func numberPlaceholders(query string, first int) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := first
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			n++
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Migrate creates the table and its indexes if they do not exist, and the
// change log with its triggers (see [SQLStore.Changes]) if they do not
// exist, so running it on a table made by an older version adds them. On
// such a table it also adds the columns added since (created_by and
// disabled_by, for Key.CreatedBy and Key.DisabledBy), each only when the
// table lacks it: a table already up to date is not altered, so its lock
// is not taken at every start-up. It is idempotent and safe to run from
// several processes at once, for example from every replica at start-up.
// The database user needs the right to alter the table and to create
// triggers (on MySQL with binary logging on, also SUPER or
// log_bin_trust_function_creators).
func (s *SQLStore) Migrate(ctx context.Context) error {
	if s.dialect == SQLite {
		return s.migrateSQLite(ctx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.dialect == Postgres {
		// Concurrent CREATE TABLE IF NOT EXISTS can still fail in
		// PostgreSQL with a unique violation in its catalog; a
		// transaction-scoped advisory lock per table serialises migrators.
		h := fnv.New64a()
		h.Write([]byte("apikey.Migrate:" + s.table))
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
			return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
		}
	}
	for _, stmt := range s.q.migrate {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
		}
	}
	if err := s.createTriggers(ctx, tx); err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	if err := s.addColumns(ctx, tx); err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	return nil
}

// migrateSQLite runs the statements in one BEGIN IMMEDIATE transaction,
// which waits for the database write lock (busy_timeout) before it reads
// the schema. A deferred transaction would read first, and fail with
// "database is locked" when another migrator wrote in between.
func (s *SQLStore) migrateSQLite(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("apikey: migrating table %s: connecting: %w", s.table, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("apikey: migrating table %s: BEGIN: %w", s.table, err)
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // the error reported is the first
		}
	}()
	for _, stmt := range s.q.migrate {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
		}
	}
	if err := s.addColumns(ctx, conn); err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("apikey: migrating table %s: %w", s.table, err)
	}
	return nil
}

// sqlConn is what Migrate runs its statements on: a transaction, or on
// SQLite a connection inside BEGIN IMMEDIATE.
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// addColumns adds to the table each column of addedColumns it lacks. It
// runs after the change log's triggers are made, so an upgraded table's
// triggers, made before its new columns, are the ones tested. MySQL 8 has
// no ADD COLUMN IF NOT EXISTS: two migrators may both find a column
// missing, and the loser's "Duplicate column name" is success.
// PostgreSQL's migrators are serialised by Migrate's advisory lock, and
// SQLite's by BEGIN IMMEDIATE.
func (s *SQLStore) addColumns(ctx context.Context, c sqlConn) error {
	for _, col := range s.q.addedColumns {
		var n int
		if err := c.QueryRowContext(ctx, s.q.hasColumn, col.name).Scan(&n); err != nil {
			return fmt.Errorf("looking for column %s: %w", col.name, err)
		}
		if n > 0 {
			continue
		}
		_, err := c.ExecContext(ctx, "ALTER TABLE "+s.table+" ADD COLUMN "+col.name+" "+col.def)
		if err != nil && !(s.dialect == MySQL && strings.Contains(err.Error(), "Duplicate column name")) {
			return fmt.Errorf("adding column %s: %w", col.name, err)
		}
	}
	return nil
}

// Create implements Store. Keys with an empty ID or digest, an ID longer
// than 64 bytes or a digest longer than 64 bytes are refused with
// ErrInvalidInput.
func (s *SQLStore) Create(ctx context.Context, key Key) error {
	switch {
	case key.ID == "":
		return fmt.Errorf("%w: key ID is empty", ErrInvalidInput)
	case len(key.ID) > maxSQLIDLen:
		return fmt.Errorf("%w: key ID is longer than %d bytes", ErrInvalidInput, maxSQLIDLen)
	case len(key.Digest) == 0:
		return fmt.Errorf("%w: key digest is empty", ErrInvalidInput)
	case len(key.Digest) > maxSQLDigestLen:
		return fmt.Errorf("%w: key digest is longer than %d bytes", ErrInvalidInput, maxSQLDigestLen)
	}
	scopes, metadata, err := encodeLists(key.Scopes, key.Metadata)
	if err != nil {
		return err
	}
	ips, err := encodeIPs(key.AllowedIPs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.q.create,
		key.ID, key.Owner, key.Name, key.Description, scopes, metadata,
		key.Start, key.Hash, key.Digest, key.Enabled,
		s.timeArg(key.CreatedAt, false), s.timeArg(key.UpdatedAt, false),
		s.timeArg(key.ExpiresAt, true), s.timeArg(key.LastUsedAt, true),
		key.RateLimit.Limit, key.RateLimit.Window.Microseconds(), ips, nullInt(key.RemainingUses), key.RotatedTo,
		key.CreatedBy, key.DisabledBy)
	if err != nil {
		if isUniqueViolation(err) {
			// The driver's message is left out: it may quote the digest.
			return fmt.Errorf("%w: ID %s or its digest is already stored", ErrDuplicate, key.ID)
		}
		return fmt.Errorf("apikey: creating key %s: %w", key.ID, err)
	}
	return nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (Key, error) {
	k, err := s.scanKey(s.db.QueryRowContext(ctx, s.q.get, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: getting key %s: %w", id, err)
	}
	return k, nil
}

// FindByDigest implements Store with one lookup in the unique digest index.
func (s *SQLStore) FindByDigest(ctx context.Context, digest []byte) (Key, error) {
	k, err := s.scanKey(s.db.QueryRowContext(ctx, s.q.findByDigest, digest))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: finding key by digest: %w", err)
	}
	return k, nil
}

// List implements Store. A Limit of zero or less lists nothing, as
// MemoryStore does.
func (s *SQLStore) List(ctx context.Context, opts ListOptions) ([]Key, error) {
	if opts.Limit <= 0 {
		return nil, nil
	}
	var rows *sql.Rows
	var err error
	if opts.Owner == "" {
		rows, err = s.db.QueryContext(ctx, s.q.list, opts.After, opts.Limit)
	} else {
		rows, err = s.db.QueryContext(ctx, s.q.listByOwner, opts.Owner, opts.After, opts.Limit)
	}
	if err != nil {
		return nil, fmt.Errorf("apikey: listing keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := s.scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("apikey: listing keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("apikey: listing keys: %w", err)
	}
	return out, nil
}

// Update implements Store. fn runs inside a transaction that holds the
// key's row lock (the database write lock on SQLite), so keep it short and
// free of I/O.
func (s *SQLStore) Update(ctx context.Context, id string, fn func(*Key) error) (Key, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: updating key %s: %w", id, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.q.lockRow != "" {
		if _, err := tx.ExecContext(ctx, s.q.lockRow, id); err != nil {
			return Key{}, fmt.Errorf("apikey: updating key %s: %w", id, err)
		}
	}
	old, err := s.scanKey(tx.QueryRowContext(ctx, s.q.getForUpdate, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: updating key %s: %w", id, err)
	}
	changed := old.Clone()
	if err := fn(&changed); err != nil {
		return Key{}, err
	}
	next := old
	next.Owner = changed.Owner
	next.Name = changed.Name
	next.Description = changed.Description
	next.Scopes = normScopes(slices.Clone(changed.Scopes))
	next.Metadata = normMetadata(maps.Clone(changed.Metadata))
	next.Enabled = changed.Enabled
	next.ExpiresAt = normTime(changed.ExpiresAt)
	next.UpdatedAt = normTime(changed.UpdatedAt)
	next.RateLimit = RateLimit{Limit: changed.RateLimit.Limit, Window: changed.RateLimit.Window.Truncate(time.Microsecond)}
	next.AllowedIPs = normIPs(slices.Clone(changed.AllowedIPs))
	next.RemainingUses = changed.Clone().RemainingUses
	next.RotatedTo = changed.RotatedTo
	next.CreatedBy = changed.CreatedBy
	next.DisabledBy = changed.DisabledBy
	scopes, metadata, err := encodeLists(next.Scopes, next.Metadata)
	if err != nil {
		return Key{}, err
	}
	ips, err := encodeIPs(next.AllowedIPs)
	if err != nil {
		return Key{}, err
	}
	_, err = tx.ExecContext(ctx, s.q.update,
		next.Owner, next.Name, next.Description, scopes, metadata, next.Enabled,
		s.timeArg(next.ExpiresAt, true), s.timeArg(next.UpdatedAt, false),
		next.RateLimit.Limit, next.RateLimit.Window.Microseconds(), ips, nullInt(next.RemainingUses), next.RotatedTo,
		next.CreatedBy, next.DisabledBy, id)
	if err != nil {
		return Key{}, fmt.Errorf("apikey: updating key %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Key{}, fmt.Errorf("apikey: updating key %s: %w", id, err)
	}
	return next, nil
}

// Delete implements Store.
func (s *SQLStore) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.q.delete, id)
	if err != nil {
		return fmt.Errorf("apikey: deleting key %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("apikey: deleting key %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: ID %s", ErrNotFound, id)
	}
	return nil
}

// SpendUse implements UsageStore with one conditional UPDATE, so the
// database serialises concurrent spenders of the same key. When it spends
// nothing, a second query tells why. On MySQL both run on one connection,
// which also reads back the count: SpendUse never waits for a second
// connection while it holds one, so concurrent refusals cannot exhaust a
// small pool.
func (s *SQLStore) SpendUse(ctx context.Context, id string, now time.Time) (int64, error) {
	var q sqlRunner = s.db
	if s.dialect == MySQL {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
		}
		defer conn.Close()
		q = conn
	}
	// A key that looks spendable but was not spent changed in between
	// (say, it was given uses back): try again, a few times.
	for range 3 {
		left, spent, err := s.spend(ctx, q, id, now)
		if spent || err != nil {
			return left, err
		}
		k := Key{ID: id}
		var remaining sql.NullInt64
		err = q.QueryRowContext(ctx, s.q.spendState, id).Scan(&remaining, &k.Enabled, &k.RotatedTo, &sqlTime{&k.ExpiresAt, s.dialect})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return 0, fmt.Errorf("%w: ID %s", ErrNotFound, id)
		case err != nil:
			return 0, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
		case !remaining.Valid:
			return -1, nil
		}
		k.RemainingUses = &remaining.Int64
		if err := spendRefusal(&k, now); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: key %s changed while a use was spent", ErrConflict, id)
}

// sqlRunner is what *sql.DB and *sql.Conn have in common.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// spend runs the conditional UPDATE. spent is false when it matched no row.
func (s *SQLStore) spend(ctx context.Context, q sqlRunner, id string, now time.Time) (left int64, spent bool, err error) {
	at := s.timeArg(now, false)
	if s.dialect != MySQL {
		err := q.QueryRowContext(ctx, s.q.spendUse, id, at).Scan(&left)
		switch {
		case err == nil:
			return left, true, nil
		case errors.Is(err, sql.ErrNoRows):
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
	}
	res, err := q.ExecContext(ctx, s.q.spendMySQL, id, at)
	if err != nil {
		return 0, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err != nil {
			return 0, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
		}
		return 0, false, nil
	}
	// The value set by LAST_INSERT_ID(expr) is read back with SELECT on
	// the same connection: with a trigger on the table (the change
	// log's), MariaDB's OK packet carries 0 instead.
	if err := q.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&left); err != nil {
		return 0, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
	}
	return left, true, nil
}

// lastUsedChunk is the most keys RecordLastUsed puts in one statement: two
// placeholders each stays far below every dialect's limit (SQLite's
// default 32766, PostgreSQL's and MySQL's 65535).
const lastUsedChunk = 500

// RecordLastUsed implements Store with one statement per 500 keys. Zero
// times are skipped, since they never move a time forward.
func (s *SQLStore) RecordLastUsed(ctx context.Context, used map[string]time.Time) error {
	ids := make([]string, 0, len(used))
	for id, t := range used {
		if !t.IsZero() {
			ids = append(ids, id)
		}
	}
	// A fixed order makes concurrent flushes from several replicas lock
	// rows in the same order, which keeps them from deadlocking.
	slices.Sort(ids)
	for len(ids) > 0 {
		n := min(len(ids), lastUsedChunk)
		query, args := s.lastUsedStatement(ids[:n], used)
		if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("apikey: recording last-used times of %d keys: %w", n, err)
		}
		ids = ids[n:]
	}
	return nil
}

func (s *SQLStore) lastUsedStatement(ids []string, used map[string]time.Time) (string, []any) {
	var b strings.Builder
	b.Grow(len(s.q.lastUsedHead) + len(ids)*(len(s.q.lastUsedRow)+len(s.q.lastUsedSep)+8) + len(s.q.lastUsedTail))
	b.WriteString(s.q.lastUsedHead)
	args := make([]any, 0, 2*len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(s.q.lastUsedSep)
		}
		if s.dialect == Postgres {
			b.WriteString(numberPlaceholders(s.q.lastUsedRow, 2*i+1))
		} else {
			b.WriteString(s.q.lastUsedRow)
		}
		args = append(args, id, s.timeArg(used[id], false))
	}
	b.WriteString(s.q.lastUsedTail)
	return b.String(), args
}

// scanKey reads one row of sqlColumns.
func (s *SQLStore) scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var scopes, metadata, ips []byte
	var windowUS int64
	var remaining sql.NullInt64
	err := row.Scan(&k.ID, &k.Owner, &k.Name, &k.Description, &scopes, &metadata,
		&k.Start, &k.Hash, &k.Digest, &k.Enabled,
		&sqlTime{&k.CreatedAt, s.dialect}, &sqlTime{&k.UpdatedAt, s.dialect},
		&sqlTime{&k.ExpiresAt, s.dialect}, &sqlTime{&k.LastUsedAt, s.dialect},
		&k.RateLimit.Limit, &windowUS, &ips, &remaining, &k.RotatedTo, &k.CreatedBy, &k.DisabledBy)
	if err != nil {
		return Key{}, err
	}
	k.RateLimit.Window = time.Duration(windowUS) * time.Microsecond
	if remaining.Valid {
		k.RemainingUses = &remaining.Int64
	}
	if len(ips) > 0 {
		if err := json.Unmarshal(ips, &k.AllowedIPs); err != nil {
			return Key{}, fmt.Errorf("decoding allowed IPs of key %s: %w", k.ID, err)
		}
		k.AllowedIPs = normIPs(k.AllowedIPs)
	}
	if len(scopes) > 0 {
		if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
			return Key{}, fmt.Errorf("decoding scopes of key %s: %w", k.ID, err)
		}
	}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &k.Metadata); err != nil {
			return Key{}, fmt.Errorf("decoding metadata of key %s: %w", k.ID, err)
		}
	}
	k.Scopes, k.Metadata = normScopes(k.Scopes), normMetadata(k.Metadata)
	return k, nil
}

// encodeLists turns scopes and metadata into the JSON text stored for them.
// HTML escaping is off so "<" stays one byte: metadata values near the
// Manager's size limits must still fit the columns.
func encodeLists(scopes []string, metadata map[string]string) (string, string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if scopes == nil {
		scopes = []string{}
	}
	if err := enc.Encode(scopes); err != nil {
		return "", "", fmt.Errorf("apikey: encoding scopes: %w", err)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	b.Reset()
	if metadata == nil {
		metadata = map[string]string{}
	}
	if err := enc.Encode(metadata); err != nil {
		return "", "", fmt.Errorf("apikey: encoding metadata: %w", err)
	}
	return s, strings.TrimSuffix(b.String(), "\n"), nil
}

// encodeIPs turns allowed IP ranges into the JSON text stored for them.
func encodeIPs(ips []netip.Prefix) (string, error) {
	if len(ips) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ips)
	if err != nil {
		return "", fmt.Errorf("%w: allowed IPs: %w", ErrInvalidInput, err)
	}
	return string(b), nil
}

func normIPs(ips []netip.Prefix) []netip.Prefix {
	if len(ips) == 0 {
		return nil
	}
	return ips
}

// nullInt is the column value of an optional count.
func nullInt(n *int64) any {
	if n == nil {
		return nil
	}
	return *n
}

// normScopes and normMetadata make empty lists nil, so a key reads back the
// same whether it was stored with nil or empty ones.
func normScopes(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// normTime is t as every dialect keeps it: UTC, microseconds.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// mysqlTimeLayout is how times are sent to and read from DATETIME(6).
const mysqlTimeLayout = "2006-01-02 15:04:05.000000"

// timeArg converts t to the dialect's column value; the zero time is NULL
// where the column allows it.
func (s *SQLStore) timeArg(t time.Time, nullable bool) any {
	if nullable && t.IsZero() {
		return nil
	}
	t = normTime(t)
	switch s.dialect {
	case MySQL:
		// A string is stored as written, whatever the driver's loc
		// parameter or the session time zone say.
		return t.Format(mysqlTimeLayout)
	case SQLite:
		return t.UnixMicro()
	}
	return t
}

// sqlTime scans any dialect's time column into a UTC time; NULL is the
// zero time.
type sqlTime struct {
	t       *time.Time
	dialect Dialect
}

func (st *sqlTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*st.t = time.Time{}
		return nil
	case int64:
		*st.t = time.UnixMicro(v).UTC()
		return nil
	case time.Time:
		if st.dialect == MySQL {
			// DATETIME has no zone: the driver attached its loc
			// parameter to a wall clock that was written in UTC.
			y, mo, d := v.Date()
			h, mi, sec := v.Clock()
			v = time.Date(y, mo, d, h, mi, sec, v.Nanosecond(), time.UTC)
		}
		*st.t = normTime(v)
		return nil
	case []byte:
		return st.parse(string(v))
	case string:
		return st.parse(v)
	}
	return fmt.Errorf("apikey: cannot read a time from %T", src)
}

// parse reads the text form MySQL sends without parseTime=true.
func (st *sqlTime) parse(s string) error {
	t, err := time.Parse("2006-01-02 15:04:05.999999", s)
	if err != nil {
		return fmt.Errorf("apikey: reading time %q: %w", s, err)
	}
	*st.t = t.UTC()
	return nil
}

// isUniqueViolation reports whether err from an INSERT is a unique
// constraint violation. Importing no driver, it relies on what each driver
// exposes: an SQLSTATE method (pgx, lib/pq) or the message text, which is
// stable in practice: "SQLSTATE 23505" and "duplicate key value" from
// PostgreSQL, "Error 1062" and "Duplicate entry" from MySQL, "UNIQUE
// constraint failed" from SQLite.
func isUniqueViolation(err error) bool {
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) && coded.SQLState() == "23505" {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"SQLSTATE 23505", "duplicate key value", "Error 1062", "Duplicate entry", "UNIQUE constraint failed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
