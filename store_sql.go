package apikey

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

var (
	_ UsageStore = (*SQLStore)(nil)
	_ Rehasher   = (*SQLStore)(nil)
)

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

// Create implements Store. Keys with an empty ID or digest, an ID longer
// than 64 bytes or a digest longer than 64 bytes are refused with
// ErrInvalidInput.
func (s *SQLStore) Create(ctx context.Context, key Key) error {
	args, err := s.createArgs(key)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.create, args...); err != nil {
		if isUniqueViolation(err) {
			// The driver's message is left out: it may quote the digest.
			return fmt.Errorf("%w: ID %s or its digest is already stored", ErrDuplicate, key.ID)
		}
		return fmt.Errorf("apikey: creating key %s: %w", key.ID, err)
	}
	return nil
}

// createManyRows is how many keys one INSERT of CreateMany writes: at 28
// values a key, 32 keys stay under the 999 placeholders older SQLite
// builds allow in one statement.
const createManyRows = 32

// CreateMany implements BatchStore: the keys are checked as Create checks
// them, then written in one transaction, 32 to an INSERT.
func (s *SQLStore) CreateMany(ctx context.Context, keys []Key) error {
	if len(keys) == 0 {
		return nil
	}
	rows := make([][]any, len(keys))
	for i, k := range keys {
		args, err := s.createArgs(k)
		if err != nil {
			return err
		}
		rows[i] = args
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apikey: creating %d keys: %w", len(keys), err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for start := 0; start < len(rows); start += createManyRows {
		chunk := rows[start:min(start+createManyRows, len(rows))]
		stmt := s.q.createHead + strings.Repeat(s.q.createRow+", ", len(chunk)-1) + s.q.createRow
		if s.dialect == Postgres {
			stmt = numberPlaceholders(stmt, 1)
		}
		args := make([]any, 0, len(chunk)*len(chunk[0]))
		for _, r := range chunk {
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: an ID or digest of keys %s to %s is already stored or given twice",
					ErrDuplicate, keys[start].ID, keys[start+len(chunk)-1].ID)
			}
			return fmt.Errorf("apikey: creating %d keys: %w", len(keys), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apikey: creating %d keys: %w", len(keys), err)
	}
	return nil
}

// createArgs checks key as Create does and returns its row's values, in
// sqlColumns' order.
func (s *SQLStore) createArgs(key Key) ([]any, error) {
	switch {
	case key.ID == "":
		return nil, fmt.Errorf("%w: key ID is empty", ErrInvalidInput)
	case len(key.ID) > maxSQLIDLen:
		return nil, fmt.Errorf("%w: key ID is longer than %d bytes", ErrInvalidInput, maxSQLIDLen)
	case len(key.Digest) == 0:
		return nil, fmt.Errorf("%w: key digest is empty", ErrInvalidInput)
	case len(key.Digest) > maxSQLDigestLen:
		return nil, fmt.Errorf("%w: key digest is longer than %d bytes", ErrInvalidInput, maxSQLDigestLen)
	}
	scopes, metadata, err := encodeLists(key.Scopes, key.Metadata)
	if err != nil {
		return nil, err
	}
	ips, err := encodeIPs(key.AllowedIPs)
	if err != nil {
		return nil, err
	}
	return []any{
		key.ID, key.Owner, key.Name, key.Description, scopes, metadata,
		key.Start, key.Hash, key.Digest, key.Enabled,
		s.timeArg(key.CreatedAt, false), s.timeArg(key.UpdatedAt, false),
		s.timeArg(key.ExpiresAt, true), s.timeArg(key.LastUsedAt, true),
		key.RateLimit.Limit, key.RateLimit.Window.Microseconds(), ips, nullInt(key.RemainingUses), key.RotatedTo,
		key.CreatedBy, key.DisabledBy, encodeRateLimits(key.RateLimits),
		refillAmount(key.Refill), refillInterval(key.Refill), refillDay(key.Refill), refillRollOver(key.Refill),
		s.timeArg(key.RefilledAt, true), key.UsesSpent,
	}, nil
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
	// A range of the primary key, or of the (owner, id) index, read in
	// either direction. A descending first page has no bound: no ID is
	// sure to sort above every other under the column's collation.
	var args []any
	qs := s.q.list
	if opts.Owner != "" {
		qs, args = s.q.listByOwner, append(args, opts.Owner)
	}
	stmt, bounded := qs.asc, true
	if opts.Descending {
		stmt = qs.desc
		if opts.After == "" {
			stmt, bounded = qs.descFirst, false
		}
	}
	if bounded {
		args = append(args, opts.After)
	}
	rows, err := s.db.QueryContext(ctx, stmt, append(args, opts.Limit)...)
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
	next := old.Updated(changed)
	// As the columns will keep them.
	next.Scopes, next.Metadata = normScopes(next.Scopes), normMetadata(next.Metadata)
	next.ExpiresAt, next.UpdatedAt = normTime(next.ExpiresAt), normTime(next.UpdatedAt)
	next.RateLimit.Window = next.RateLimit.Window.Truncate(time.Microsecond)
	next.AllowedIPs = normIPs(next.AllowedIPs)
	next.RateLimits = cleanRateLimits(next.RateLimits)
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
		next.CreatedBy, next.DisabledBy, encodeRateLimits(next.RateLimits),
		refillAmount(next.Refill), refillInterval(next.Refill), refillDay(next.Refill), refillRollOver(next.Refill),
		s.timeArg(next.RefilledAt, true), id)
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

// Rehash implements Rehasher with one conditional UPDATE. The change log
// records it, so the caches following a feed drop the old digest.
func (s *SQLStore) Rehash(ctx context.Context, id string, old []byte, hash string, digest []byte) error {
	switch {
	case len(digest) == 0:
		return fmt.Errorf("%w: key digest is empty", ErrInvalidInput)
	case len(digest) > maxSQLDigestLen:
		return fmt.Errorf("%w: key digest is longer than %d bytes", ErrInvalidInput, maxSQLDigestLen)
	}
	res, err := s.db.ExecContext(ctx, s.q.rehash, hash, digest, id, old)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: digest already stored", ErrDuplicate)
		}
		return fmt.Errorf("apikey: rehashing key %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("apikey: rehashing key %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("%w: ID %s with that digest", ErrNotFound, id)
	}
	return nil
}

// SpendUse implements UsageStore with one conditional UPDATE, so the
// database serialises concurrent spenders of the same key. When it spends
// nothing, a second query tells why. On MySQL both run on one connection,
// which also reads back the count: SpendUse never waits for a second
// connection while it holds one, so concurrent refusals cannot exhaust a
// small pool.
func (s *SQLStore) SpendUse(ctx context.Context, sp Spend) (int64, error) {
	id := sp.ID
	if sp.N < 1 {
		return 0, fmt.Errorf("%w: spending %d uses", ErrInvalidInput, sp.N)
	}
	if err := checkRefill(sp.Refill); err != nil {
		return 0, err
	}
	var q sqlConn = s.db
	if s.dialect == MySQL {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
		}
		defer conn.Close()
		q = conn
	}
	// A key that looks spendable but was not spent changed in between
	// (given uses back, or another Refill than the caller read): try
	// again with what is stored, a few times.
	refill := sp.Refill
	for range 3 {
		left, spent, err := s.spend(ctx, q, id, sp.N, sp.Now, refill)
		if spent || err != nil {
			return left, err
		}
		var limited bool
		if refill, limited, err = s.keyState(ctx, q, id, sp.N, sp.Now); err != nil || !limited {
			return -1, err
		}
	}
	return 0, fmt.Errorf("%w: key %s changed while a use was spent", ErrConflict, id)
}

// keyState reads the stored key id and says why n of its uses could not
// be spent at now (an error), that it has no usage limit (limited false),
// or else which Refill it has, to spend again by.
func (s *SQLStore) keyState(ctx context.Context, q sqlConn, id string, n int64, now time.Time) (refill *Refill, limited bool, err error) {
	k := Key{ID: id}
	var remaining, amount sql.NullInt64
	var interval string
	var day int
	var rollOver bool
	err = q.QueryRowContext(ctx, s.q.spendState, id).Scan(&remaining, &k.Enabled, &k.RotatedTo,
		&sqlTime{&k.ExpiresAt, s.dialect}, &amount, &interval, &day, &rollOver, &sqlTime{&k.RefilledAt, s.dialect})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, fmt.Errorf("%w: ID %s", ErrNotFound, id)
	case err != nil:
		return nil, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
	case !remaining.Valid:
		return nil, false, nil
	}
	k.RemainingUses = &remaining.Int64
	if amount.Valid {
		k.Refill = &Refill{Amount: amount.Int64, Interval: RefillInterval(interval), Day: day, RollOver: rollOver}
	}
	if err := spendRefusal(&k, n, now); err != nil {
		return nil, true, err
	}
	return k.Refill, true, nil
}

// spend runs the conditional UPDATE that refills when refill is due and
// spends, for a key whose stored Refill is refill (nil: none). spent is
// false when it matched no row.
func (s *SQLStore) spend(ctx context.Context, q sqlConn, id string, n int64, now time.Time, refill *Refill) (left int64, spent bool, err error) {
	left, spent, err = s.spendRow(ctx, q, s.q.keySpend, []any{id, s.timeArg(now, false)}, n, now, refill)
	if err != nil {
		return 0, false, fmt.Errorf("apikey: spending a use of key %s: %w", id, err)
	}
	return left, spent, nil
}

// spendRow runs one of st's statements, with where's arguments, for a row
// whose stored Refill is refill. spent is false when it matched no row.
func (s *SQLStore) spendRow(ctx context.Context, q sqlConn, st spendSQL, where []any, n int64, now time.Time, refill *Refill) (left int64, spent bool, err error) {
	query := st.plain
	args := append(append([]any{n, n}, where...), n)
	if s.dialect == MySQL {
		query = st.plainMySQL
	}
	if refill != nil {
		p := s.timeArg(refill.PeriodStart(now), false)
		query = st.refill
		if s.dialect == MySQL {
			query = st.refillMySQL
		}
		args = append(append([]any{p, n, p, p, n}, where...), refill.Amount, string(refill.Interval), refill.Day, refill.RollOver, p, n)
	}
	if s.dialect != MySQL {
		err := q.QueryRowContext(ctx, query, args...).Scan(&left)
		switch {
		case err == nil:
			return left, true, nil
		case errors.Is(err, sql.ErrNoRows):
			return 0, false, nil
		}
		return 0, false, err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return 0, false, err
	}
	// The value set by LAST_INSERT_ID(expr) is read back with SELECT on
	// the same connection: with a trigger on the table (the change
	// log's), MariaDB's OK packet carries 0 instead.
	if err := q.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&left); err != nil {
		return 0, false, err
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
