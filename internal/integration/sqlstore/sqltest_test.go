package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/internal/sqltest"
)

// objects lists the tables, indexes, triggers and functions of db whose
// name holds marker (in any case).
var objects = map[apikey.Dialect]string{
	apikey.SQLite: `SELECT type || ' ' || name FROM sqlite_master WHERE lower(name) LIKE '%' || ? || '%'`,
	apikey.Postgres: `SELECT 'relation ' || relname FROM pg_class WHERE relname LIKE '%' || $1 || '%'
		UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE '%' || $1 || '%'
		UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgname LIKE '%' || $1 || '%'`,
	apikey.MySQL: `SELECT CONCAT('table ', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND LOWER(TABLE_NAME) LIKE CONCAT('%', ?, '%')
		UNION ALL SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND LOWER(TRIGGER_NAME) LIKE CONCAT('%', ?, '%')
		UNION ALL SELECT CONCAT('routine ', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND LOWER(ROUTINE_NAME) LIKE CONCAT('%', ?, '%')`,
}

func list(t *testing.T, db *sql.DB, d apikey.Dialect, marker string) []string {
	t.Helper()
	args := []any{marker}
	if d == apikey.MySQL {
		args = []any{marker, marker, marker}
	}
	rows, err := db.Query(objects[d], args...)
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}

// Drop leaves nothing of what Migrate created, for short names and for the
// longest ones (whose derived names are shortened), on every backend.
func TestDropLeavesNothing(t *testing.T) {
	backends := []struct {
		name    string
		dialect apikey.Dialect
		driver  string
		dsn     func(t *testing.T) string // skips t when there is no server
	}{
		{"sqlite", apikey.SQLite, "sqlite", func(t *testing.T) string {
			return "file:" + filepath.Join(t.TempDir(), "keys.db") + "?_pragma=busy_timeout(5000)"
		}},
		{"postgres", apikey.Postgres, "pgx", func(t *testing.T) string { return feedtest.DSN(t, envPostgres) }},
		{"mysql", apikey.MySQL, "mysql", func(t *testing.T) string { return feedtest.DSN(t, envMySQL) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, err := sql.Open(b.driver, b.dsn(t))
			require.NoError(t, err)
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, db.PingContext(ctx))
			for _, long := range []bool{false, true} {
				marker := strings.ToLower(rand.Text()[:12])
				table := "sqltest_" + marker
				if long {
					table = "SqlTest_" + marker + strings.Repeat("x", 63-len(table))
				}
				s, err := apikey.NewSQLStore(db, b.dialect, apikey.WithTable(table))
				require.NoError(t, err)
				require.NoError(t, s.Migrate(ctx))
				created := list(t, db, b.dialect, marker)
				assert.GreaterOrEqual(t, len(created), 4, "Migrate's objects are found: %v", created)
				if !assert.NoError(t, sqltest.Drop(ctx, db, b.dialect, table)) {
					continue
				}
				assert.Empty(t, list(t, db, b.dialect, marker), "left behind by Drop")
			}
		})
	}
}

func TestChangesTable(t *testing.T) {
	changes := func(table string) string {
		s, err := apikey.NewSQLStore(&sql.DB{}, apikey.SQLite, apikey.WithTable(table))
		require.NoError(t, err)
		return s.ChangesTable()
	}
	assert.Equal(t, "api_keys_changes", changes("api_keys"))
	long := strings.Repeat("k", 63)
	assert.Len(t, changes(long), 63)
	assert.NotEqual(t, changes(long), changes(long[:62]+"j"))
}
