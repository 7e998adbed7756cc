// Package sqltest names what (*apikey.SQLStore).Migrate creates and drops
// it all, for the tests, examples and load tests of this module that make
// throw-away tables on real servers.
//
// Migrate creates, for a table t: the table t with its indexes, the change
// log table t_changes, the triggers t_changed and t_deleted on t, and on
// PostgreSQL the trigger function t_log_change(). A name longer than 63
// bytes is shortened with a hash of t, as store_sql.go's indexName does;
// TestDropLeavesNothing checks this package against what Migrate really
// creates, on every backend.
package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/go-apikey/apikey"
)

// name returns table+suffix, shortened as Migrate shortens it.
func name(table, suffix string) string {
	const maxLen = 63
	if len(table)+len(suffix) <= maxLen {
		return table + suffix
	}
	h := fnv.New32a()
	h.Write([]byte(table))
	tag := fmt.Sprintf("_%08x", h.Sum32())
	return table[:maxLen-len(suffix)-len(tag)] + tag + suffix
}

// ChangesTable returns the name of table's change log.
func ChangesTable(table string) string { return name(table, "_changes") }

// DropStatements returns the statements that remove everything Migrate
// creates for table in dialect d, in an order each can run in: the table
// (its indexes and triggers go with it), its change log, and on PostgreSQL
// the trigger function. Each is IF EXISTS, so they also clean up after a
// Migrate that failed half way.
func DropStatements(d apikey.Dialect, table string) []string {
	stmts := []string{"DROP TABLE IF EXISTS " + table, "DROP TABLE IF EXISTS " + ChangesTable(table)}
	if d == apikey.Postgres {
		stmts = append(stmts, "DROP FUNCTION IF EXISTS "+name(table, "_log_change")+"()")
	}
	return stmts
}

// Drop runs DropStatements on db, all of them even if one fails, and
// returns the errors joined.
func Drop(ctx context.Context, db *sql.DB, d apikey.Dialect, table string) error {
	var errs []error
	for _, stmt := range DropStatements(d, table) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", stmt, err))
		}
	}
	return errors.Join(errs...)
}
