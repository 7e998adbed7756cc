package dbopen

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/go-apikey/apikey"
)

// TableExists reports whether db holds a table named table where a store's
// unquoted SQL finds it: on PostgreSQL in a schema of the search path, the
// name folded to lower case; on MySQL in the current database; on SQLite
// in the main database, in any case. It reads the catalog only, so a
// command that must not create a table can say it is missing instead.
func TableExists(ctx context.Context, db *sql.DB, d apikey.Dialect, table string) (bool, error) {
	var query string
	switch d {
	case apikey.Postgres:
		query = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relname = lower($1) AND c.relkind IN ('r', 'p') AND n.nspname = ANY (current_schemas(false)))`
	case apikey.MySQL:
		query = `SELECT EXISTS (SELECT 1 FROM information_schema.tables
	WHERE table_schema = DATABASE() AND table_name = ?)`
	case apikey.SQLite:
		query = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE)`
	default:
		return false, fmt.Errorf("unknown SQL dialect %v", d)
	}
	var exists bool
	if err := db.QueryRowContext(ctx, query, table).Scan(&exists); err != nil {
		return false, err
	}
	return exists, nil
}
