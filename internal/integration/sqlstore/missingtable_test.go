package sqlstore_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A missing table (a forgotten Migrate) is a 503 with the database's own
// words in the log.
func TestMissingTableIsLogged(t *testing.T) {
	var out testkit.LogLines
	s, err := apikey.NewSQLStore(openSQLite(t), apikey.SQLite)
	require.NoError(t, err)
	m := newManager(t, s, apikey.WithLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	plain, _ := mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})
	_, err = m.Verify(context.Background(), plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	recs := out.Records(t)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0]["error"], "no such table: api_keys")
}
