package apikey

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// sqlQueries holds every statement text, built once from the table name.
type sqlQueries struct {
	migrate []string
	create  string
	// createHead and createRow make the INSERT of CreateMany: the head,
	// then one row of placeholders per key.
	createHead, createRow string
	get                   string
	// getForUpdate is get with a row lock, where the dialect has one.
	getForUpdate string
	// lockRow is run first in an Update transaction on SQLite, which has no
	// row locks: a write takes the database write lock before the read,
	// so two Updates cannot read the same old record.
	lockRow      string
	findByDigest string
	list         listQueries
	listByOwner  listQueries
	update       string
	delete       string
	// keySpend spends a key's uses; spendState reads what decides why
	// none were spent.
	keySpend   spendSQL
	spendState string
	// The owners table (see OwnerStore): every policy, one upserted or
	// deleted, an owner's pooled uses spent, and why none were.
	owners, putOwner, deleteOwner, ownerState string
	ownerSpend                                spendSQL
	rehash                                    string
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

// listQueries list a page of keys in ID order (asc, from a cursor) or in
// reverse (desc, from a cursor; descFirst, from the top).
type listQueries struct{ asc, desc, descFirst string }

// spendSQL are the statements that spend uses from one row: plain for a
// row without a refill, refill for one with, each with a MySQL form that
// sets LAST_INSERT_ID instead of RETURNING.
type spendSQL struct {
	plain, plainMySQL, refill, refillMySQL string
}

// buildSpend returns the spending statements of table t for the rows
// where selects (a WHERE clause whose placeholders come first among the
// arguments after the new values, see SQLStore.spendRow). A row with a
// Refill is refilled in the same statement when its last refill was in an
// earlier period; the period is named by the caller, for the Refill it
// read, which the statement checks is the stored one.
func buildSpend(t, where string) spendSQL {
	due := "(refilled_at IS NULL OR refilled_at < ?)"
	// A roll-over stops at MaxRemainingUses, as rollOver does, compared
	// so that nothing overflows.
	max := strconv.FormatInt(MaxRemainingUses, 10)
	rolled := "(CASE WHEN remaining_uses > " + max + " - refill_amount THEN " + max + " ELSE remaining_uses + refill_amount END)"
	uses := "(CASE WHEN " + due + " THEN (CASE WHEN refill_rollover THEN " + rolled + " ELSE refill_amount END) ELSE remaining_uses END)"
	sameRefill := " AND refill_amount = ? AND refill_interval = ? AND refill_day = ? AND refill_rollover = ? AND " + uses + " >= ?"
	return spendSQL{
		plain: "UPDATE " + t + " SET remaining_uses = remaining_uses - ?, uses_spent = uses_spent + ?" + where +
			" AND refill_amount IS NULL AND remaining_uses >= ? RETURNING remaining_uses",
		plainMySQL: "UPDATE " + t + " SET remaining_uses = LAST_INSERT_ID(remaining_uses - ?), uses_spent = uses_spent + ?" + where +
			" AND refill_amount IS NULL AND remaining_uses >= ?",
		refill: "UPDATE " + t + " SET remaining_uses = " + uses + " - ?, refilled_at = CASE WHEN " + due + " THEN ? ELSE refilled_at END, uses_spent = uses_spent + ?" +
			where + sameRefill + " RETURNING remaining_uses",
		refillMySQL: "UPDATE " + t + " SET remaining_uses = LAST_INSERT_ID(" + uses + " - ?), refilled_at = CASE WHEN " + due + " THEN ? ELSE refilled_at END, uses_spent = uses_spent + ?" +
			where + sameRefill,
	}
}

// sqlColumn is a column Migrate adds to an existing table: its name and
// its definition in the dialect.
type sqlColumn struct{ name, def string }

const sqlColumns = "id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at, expires_at, last_used_at, rate_limit, rate_window_us, allowed_ips, remaining_uses, rotated_to, created_by, disabled_by, rate_limits, refill_amount, refill_interval, refill_day, refill_rollover, refilled_at, uses_spent"

func buildQueries(d Dialect, t string) sqlQueries {
	var q sqlQueries
	q.createHead = "INSERT INTO " + t + " (" + sqlColumns + ") VALUES "
	q.createRow = "(" + strings.Repeat("?, ", strings.Count(sqlColumns, ",")) + "?)"
	q.create = q.createHead + q.createRow
	q.get = "SELECT " + sqlColumns + " FROM " + t + " WHERE id = ?"
	q.getForUpdate = q.get + " FOR UPDATE"
	q.findByDigest = "SELECT " + sqlColumns + " FROM " + t + " WHERE digest = ?"
	q.list = listQueries{
		asc:       "SELECT " + sqlColumns + " FROM " + t + " WHERE id > ? ORDER BY id LIMIT ?",
		desc:      "SELECT " + sqlColumns + " FROM " + t + " WHERE id < ? ORDER BY id DESC LIMIT ?",
		descFirst: "SELECT " + sqlColumns + " FROM " + t + " ORDER BY id DESC LIMIT ?",
	}
	q.listByOwner = listQueries{
		asc:       "SELECT " + sqlColumns + " FROM " + t + " WHERE owner = ? AND id > ? ORDER BY id LIMIT ?",
		desc:      "SELECT " + sqlColumns + " FROM " + t + " WHERE owner = ? AND id < ? ORDER BY id DESC LIMIT ?",
		descFirst: "SELECT " + sqlColumns + " FROM " + t + " WHERE owner = ? ORDER BY id DESC LIMIT ?",
	}
	q.update = "UPDATE " + t + " SET owner = ?, name = ?, description = ?, scopes = ?, metadata = ?, enabled = ?, expires_at = ?, updated_at = ?, rate_limit = ?, rate_window_us = ?, allowed_ips = ?, remaining_uses = ?, rotated_to = ?, created_by = ?, disabled_by = ?, rate_limits = ?, refill_amount = ?, refill_interval = ?, refill_day = ?, refill_rollover = ?, refilled_at = ? WHERE id = ?"
	q.delete = "DELETE FROM " + t + " WHERE id = ?"
	// A use is spent only from a key that may be used: enabled, not
	// rotated, not expired. The store is the authority here, not the
	// caller's (possibly cached) copy of the key. A key with a Refill is
	// refilled in the same statement when its last refill was in an
	// earlier period; the period is named by the caller, for the Refill it
	// read, which the statement checks is the stored one.
	q.keySpend = buildSpend(t, " WHERE id = ? AND enabled AND rotated_to = '' AND (expires_at IS NULL OR expires_at > ?)")
	q.spendState = "SELECT remaining_uses, enabled, rotated_to, expires_at, refill_amount, refill_interval, refill_day, refill_rollover, refilled_at FROM " + t + " WHERE id = ?"
	q.rehash = "UPDATE " + t + " SET hash = ?, digest = ? WHERE id = ? AND digest = ?"
	ot := indexName(t, "_owners")
	ownerCols := "owner, rate_limits, remaining_uses, refill_amount, refill_interval, refill_day, refill_rollover, refilled_at, uses_spent, max_keys, updated_at"
	q.owners = "SELECT " + ownerCols + " FROM " + ot
	q.deleteOwner = "DELETE FROM " + ot + " WHERE owner = ?"
	q.ownerSpend = buildSpend(ot, " WHERE owner = ?")
	q.ownerState = "SELECT remaining_uses, refill_amount, refill_interval, refill_day, refill_rollover, refilled_at FROM " + ot + " WHERE owner = ?"
	// An upsert keeps refilled_at and uses_spent: only spending moves them.
	set := " rate_limits = ?, remaining_uses = ?, refill_amount = ?, refill_interval = ?, refill_day = ?, refill_rollover = ?, refilled_at = ?, max_keys = ?, updated_at = ?"
	insert := "INSERT INTO " + ot + " (" + ownerCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"
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
	disabled_by VARCHAR(64) COLLATE "C" NOT NULL DEFAULT '',
	rate_limits TEXT,
	refill_amount BIGINT,
	refill_interval VARCHAR(16) NOT NULL DEFAULT '',
	refill_day INTEGER NOT NULL DEFAULT 0,
	refill_rollover BOOLEAN NOT NULL DEFAULT FALSE,
	refilled_at TIMESTAMPTZ,
	uses_spent BIGINT NOT NULL DEFAULT 0
)`,
			"CREATE UNIQUE INDEX IF NOT EXISTS " + digestIdx + " ON " + t + " (digest)",
			"CREATE INDEX IF NOT EXISTS " + ownerIdx + " ON " + t + " (owner, id)",
		}
		q.addedColumns = []sqlColumn{
			{"created_by", `VARCHAR(64) COLLATE "C" NOT NULL DEFAULT ''`},
			{"disabled_by", `VARCHAR(64) COLLATE "C" NOT NULL DEFAULT ''`},
			{"rate_limits", "TEXT"},
			{"refill_amount", "BIGINT"},
			{"refill_interval", "VARCHAR(16) NOT NULL DEFAULT ''"},
			{"refill_day", "INTEGER NOT NULL DEFAULT 0"},
			{"refill_rollover", "BOOLEAN NOT NULL DEFAULT FALSE"},
			{"refilled_at", "TIMESTAMPTZ"},
			{"uses_spent", "BIGINT NOT NULL DEFAULT 0"},
		}
		// The table's name as its other statements resolve it, unquoted.
		q.hasColumn = "SELECT COUNT(*) FROM pg_attribute WHERE attrelid = '" + t + "'::regclass AND attname = ? AND NOT attisdropped"
		q.putOwner = insert + " ON CONFLICT (owner) DO UPDATE SET" + set
		q.migrate = append(q.migrate, `CREATE TABLE IF NOT EXISTS `+ot+` (
	owner TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	rate_limits TEXT,
	remaining_uses BIGINT,
	refill_amount BIGINT,
	refill_interval VARCHAR(16) NOT NULL DEFAULT '',
	refill_day INTEGER NOT NULL DEFAULT 0,
	refill_rollover BOOLEAN NOT NULL DEFAULT FALSE,
	refilled_at TIMESTAMPTZ,
	uses_spent BIGINT NOT NULL DEFAULT 0,
	max_keys INTEGER NOT NULL DEFAULT 0,
	updated_at TIMESTAMPTZ NOT NULL
)`)
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
	rate_limits MEDIUMTEXT NULL,
	refill_amount BIGINT NULL,
	refill_interval VARCHAR(16) NOT NULL DEFAULT '',
	refill_day INT NOT NULL DEFAULT 0,
	refill_rollover BOOLEAN NOT NULL DEFAULT FALSE,
	refilled_at DATETIME(6) NULL,
	uses_spent BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (id),
	UNIQUE KEY digest_key (digest),
	KEY owner_id_idx (owner, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		}
		q.addedColumns = []sqlColumn{
			{"created_by", "VARBINARY(64) NOT NULL DEFAULT ''"},
			{"disabled_by", "VARBINARY(64) NOT NULL DEFAULT ''"},
			{"rate_limits", "MEDIUMTEXT NULL"},
			{"refill_amount", "BIGINT NULL"},
			{"refill_interval", "VARCHAR(16) NOT NULL DEFAULT ''"},
			{"refill_day", "INT NOT NULL DEFAULT 0"},
			{"refill_rollover", "BOOLEAN NOT NULL DEFAULT FALSE"},
			{"refilled_at", "DATETIME(6) NULL"},
			{"uses_spent", "BIGINT NOT NULL DEFAULT 0"},
		}
		q.hasColumn = "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '" + t + "' AND COLUMN_NAME = ?"
		q.putOwner = insert + " ON DUPLICATE KEY UPDATE" + set
		q.migrate = append(q.migrate, "CREATE TABLE IF NOT EXISTS "+ot+` (
	owner VARBINARY(1024) NOT NULL,
	rate_limits MEDIUMTEXT NULL,
	remaining_uses BIGINT NULL,
	refill_amount BIGINT NULL,
	refill_interval VARCHAR(16) NOT NULL DEFAULT '',
	refill_day INT NOT NULL DEFAULT 0,
	refill_rollover BOOLEAN NOT NULL DEFAULT FALSE,
	refilled_at DATETIME(6) NULL,
	uses_spent BIGINT NOT NULL DEFAULT 0,
	max_keys INT NOT NULL DEFAULT 0,
	updated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (owner)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
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
	disabled_by TEXT NOT NULL DEFAULT '',
	rate_limits TEXT,
	refill_amount INTEGER,
	refill_interval TEXT NOT NULL DEFAULT '',
	refill_day INTEGER NOT NULL DEFAULT 0,
	refill_rollover INTEGER NOT NULL DEFAULT 0,
	refilled_at INTEGER,
	uses_spent INTEGER NOT NULL DEFAULT 0
)`,
			"CREATE UNIQUE INDEX IF NOT EXISTS " + digestIdx + " ON " + t + " (digest)",
			"CREATE INDEX IF NOT EXISTS " + ownerIdx + " ON " + t + " (owner, id)",
		}
		q.addedColumns = []sqlColumn{
			{"created_by", "TEXT NOT NULL DEFAULT ''"},
			{"disabled_by", "TEXT NOT NULL DEFAULT ''"},
			{"rate_limits", "TEXT"},
			{"refill_amount", "INTEGER"},
			{"refill_interval", "TEXT NOT NULL DEFAULT ''"},
			{"refill_day", "INTEGER NOT NULL DEFAULT 0"},
			{"refill_rollover", "INTEGER NOT NULL DEFAULT 0"},
			{"refilled_at", "INTEGER"},
			{"uses_spent", "INTEGER NOT NULL DEFAULT 0"},
		}
		q.hasColumn = "SELECT COUNT(*) FROM pragma_table_info('" + t + "') WHERE name = ?"
		q.getForUpdate = q.get
		q.lockRow = "UPDATE " + t + " SET id = id WHERE id = ?"
		q.putOwner = insert + " ON CONFLICT (owner) DO UPDATE SET" + set
		q.migrate = append(q.migrate, "CREATE TABLE IF NOT EXISTS "+ot+` (
	owner TEXT NOT NULL PRIMARY KEY,
	rate_limits TEXT,
	remaining_uses INTEGER,
	refill_amount INTEGER,
	refill_interval TEXT NOT NULL DEFAULT '',
	refill_day INTEGER NOT NULL DEFAULT 0,
	refill_rollover INTEGER NOT NULL DEFAULT 0,
	refilled_at INTEGER,
	uses_spent INTEGER NOT NULL DEFAULT 0,
	max_keys INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL
)`)
		q.lastUsedHead = "UPDATE " + t + " AS t SET last_used_at = v.ts FROM (SELECT column1 AS id, column2 AS ts FROM (VALUES "
		q.lastUsedRow = "(?, ?)"
		q.lastUsedSep = ", "
		q.lastUsedTail = ")) AS v WHERE t.id = v.id AND" + forward
	}
	buildChangeLog(&q, d, t)
	if d == Postgres {
		for _, p := range []*string{&q.create, &q.get, &q.getForUpdate, &q.findByDigest, &q.list.asc, &q.list.desc, &q.list.descFirst, &q.listByOwner.asc, &q.listByOwner.desc, &q.listByOwner.descFirst, &q.update, &q.delete, &q.keySpend.plain, &q.keySpend.refill, &q.spendState, &q.owners, &q.putOwner, &q.deleteOwner, &q.ownerState, &q.ownerSpend.plain, &q.ownerSpend.refill, &q.rehash, &q.changes, &q.pruneChanges, &q.hasColumn} {
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
// disabled_by, for Key.CreatedBy and Key.DisabledBy; rate_limits, for
// Key.RateLimits; the refill_* columns, refilled_at and uses_spent, for
// Key.Refill, RefilledAt and UsesSpent), each only when the
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

// Dialect returns the store's SQL dialect.
func (s *SQLStore) Dialect() Dialect { return s.dialect }

// Table returns the name of the store's key table.
func (s *SQLStore) Table() string { return s.table }

// ChangesTable returns the name of the table's change log, which Migrate
// creates beside it (see [SQLStore.Changes]).
func (s *SQLStore) ChangesTable() string { return indexName(s.table, "_changes") }

// OwnersTable returns the name of the table of owner policies, which
// Migrate creates beside the key table (see OwnerStore).
func (s *SQLStore) OwnersTable() string { return indexName(s.table, "_owners") }

// Drop removes everything Migrate creates for the store's table, for good:
// the table with its indexes and triggers, its change log, its owners
// table and, on PostgreSQL, the trigger function. Every key in it is lost. It is for
// tests that make throw-away tables, and for removing the library from a
// database. It runs every statement even if one fails, and returns the
// errors joined; each is IF EXISTS, so it also cleans up after a Migrate
// that failed half way.
func (s *SQLStore) Drop(ctx context.Context) error {
	stmts := []string{"DROP TABLE IF EXISTS " + s.table, "DROP TABLE IF EXISTS " + s.ChangesTable(), "DROP TABLE IF EXISTS " + s.OwnersTable()}
	if s.dialect == Postgres {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+indexName(s.table, "_log_change")+"()")
	}
	var errs []error
	for _, stmt := range stmts {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			errs = append(errs, fmt.Errorf("apikey: %s: %w", stmt, err))
		}
	}
	return errors.Join(errs...)
}

// sqlConn is what *sql.DB, *sql.Conn and *sql.Tx have in common: Migrate
// runs on a transaction (on SQLite, a connection inside BEGIN IMMEDIATE),
// SpendUse on the pool or one connection.
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
