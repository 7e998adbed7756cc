package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// BenchmarkImport times apikey import of a file of 10,000 keys, half by
// plaintext and half by digest, into a new table of each database: every
// check, the look-up of each key in the table, and the inserts.
func BenchmarkImport(b *testing.B) {
	const n = 10_000
	var file strings.Builder
	file.WriteString("owner,name,scopes,plaintext,sha256\n")
	for i := range n {
		key := oldKey()
		if i%2 == 0 {
			fmt.Fprintf(&file, "user%d,key %d,bots:read,%s,\n", i%100, i, key)
		} else {
			fmt.Fprintf(&file, "user%d,key %d,bots:read,,%s\n", i%100, i, hexDigest(key))
		}
	}
	path := filepath.Join(b.TempDir(), "keys.csv")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		b.Fatal(err)
	}

	for _, db := range []struct {
		name    string
		setting func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "keys.db") }},
		{"postgres", func(b *testing.B) string { return testkit.Need(b, testkit.EnvPostgres) }},
		{"mysql", func(b *testing.B) string { return testkit.Need(b, testkit.EnvMySQL) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			setting := db.setting(b)
			for b.Loop() {
				b.StopTimer()
				table := "apikey_bench_" + strings.ToLower(rand.Text()[:10])
				b.StartTimer()
				code := Run(context.Background(), []string{"import", path, "--db", setting, "--table", table, "--shape", oldShape},
					io.Discard, io.Discard, func(string) string { return "" })
				b.StopTimer()
				if code != ExitOK {
					b.Fatalf("import exited %d", code)
				}
				sql, dialect, err := dbopen.Open(context.Background(), setting)
				if err != nil {
					b.Fatal(err)
				}
				if err := sqltest.Drop(context.Background(), sql, dialect, table); err != nil {
					b.Fatal(err)
				}
				sql.Close()
				b.StartTimer()
			}
		})
	}
}
