// Package sqltest drops what (*apikey.SQLStore).Migrate creates, for the
// tests, examples and load tests of this repository that make throw-away
// tables on real servers, given only the table's name.
package sqltest

import (
	"context"
	"database/sql"

	"github.com/go-apikey/apikey"
)

// Drop removes table and everything Migrate made for it in dialect d (see
// apikey.SQLStore.Drop).
func Drop(ctx context.Context, db *sql.DB, d apikey.Dialect, table string) error {
	s, err := apikey.NewSQLStore(db, d, apikey.WithTable(table))
	if err != nil {
		return err
	}
	return s.Drop(ctx)
}
