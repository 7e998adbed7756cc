package adminweb_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/sqltest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// benchKeys is how many keys the benchmarks' store holds.
const benchKeys = 10_000

// BenchmarkAdmin measures the handler's latency, key verification
// included, with 10,000 keys (100 owners of 100 keys, one in 100 disabled)
// in the memory store and, when APIKEY_POSTGRES_DSN names a server, in
// PostgreSQL.
//
//	go test -run '^$' -bench Admin -benchtime 200x ./internal/integration/adminweb
func BenchmarkAdmin(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchAdmin(b, apikey.NewMemoryStore()) })
	b.Run("postgres", func(b *testing.B) {
		dsn := os.Getenv("APIKEY_POSTGRES_DSN")
		if dsn == "" {
			b.Skip("set APIKEY_POSTGRES_DSN to benchmark against PostgreSQL")
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		table := "apikey_admin_bench_" + strings.ToLower(rand.Text()[:10])
		store, err := apikey.NewSQLStore(db, apikey.Postgres, apikey.WithTable(table))
		if err != nil {
			b.Fatal(err)
		}
		if err := store.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer func() {
			if err := sqltest.Drop(context.Background(), db, apikey.Postgres, table); err != nil {
				b.Error(err)
			}
		}()
		benchAdmin(b, store)
	})
}

func benchAdmin(b *testing.B, store apikey.Store) {
	ctx := context.Background()
	keys := apikey.New(store, apikey.WithStaticKeys(apikey.StaticKey{
		Key: adminKey, ID: "static:admin", Owner: "root", Scopes: []string{apikey.AdminScope},
	}))
	defer keys.Close()
	var ids []string
	var ownerKey string
	for i := range benchKeys {
		plain, k, err := keys.Create(ctx, apikey.NewKey{Owner: fmt.Sprintf("owner-%02d", i%100), Name: fmt.Sprint("key ", i), Scopes: []string{"bots:read"}})
		if err != nil {
			b.Fatal(err)
		}
		if i == 7 {
			ownerKey = plain // owner-07's own key, without AdminScope
		}
		if i%100 == 50 {
			if _, err := keys.Disable(ctx, k.ID); err != nil {
				b.Fatal(err)
			}
		}
		ids = append(ids, k.ID)
	}
	h := admin.New(keys)
	serve := func(b *testing.B, key, method, target, body string, want int) {
		var r *http.Request
		if body == "" {
			r = httptest.NewRequest(method, target, nil)
		} else {
			r = httptest.NewRequest(method, target, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
	}
	for _, c := range []struct {
		name, key, method, target, body string
		want                            int
	}{
		{"list 50", adminKey, "GET", "/keys?limit=50", "", 200},
		{"list 1000", adminKey, "GET", "/keys?limit=1000", "", 200},
		{"list 50 near the end", adminKey, "GET", "/keys?limit=50&after=" + ids[benchKeys-60], "", 200},
		{"list 50 of one owner", adminKey, "GET", "/keys?limit=50&owner=owner-42", "", 200},
		{"list 50 disabled, 1 key in 100", adminKey, "GET", "/keys?limit=50&state=disabled", "", 200},
		{"list own keys without admin scope", ownerKey, "GET", "/keys?limit=50", "", 200},
		// By creation, newest first reads as far as the page needs too
		// (ListOptions.Descending); any other order reads every key the
		// caller may list.
		{"list 50 newest first", adminKey, "GET", "/keys?limit=50&order=desc", "", 200},
		{"list 50 by name", adminKey, "GET", "/keys?limit=50&sort=name", "", 200},
		{"list 50 recently used", adminKey, "GET", "/keys?limit=50&sort=last_used&order=desc", "", 200},
		{"list 50 newest first of one owner", adminKey, "GET", "/keys?limit=50&order=desc&owner=owner-42", "", 200},
		{"list own keys newest first without admin scope", ownerKey, "GET", "/keys?limit=50&order=desc", "", 200},
		{"search, 1 key in 1000", adminKey, "GET", "/keys?limit=50&q=key+99", "", 200},
		{"search newest first, 1 key in 1000", adminKey, "GET", "/keys?limit=50&q=key+99&order=desc", "", 200},
		{"rotation chain", adminKey, "GET", "/keys/" + ids[benchKeys/2] + "/rotations", "", 200},
		{"get", adminKey, "GET", "/keys/" + ids[benchKeys/2], "", 200},
		{"patch", adminKey, "PATCH", "/keys/" + ids[benchKeys/3], `{"name":"renamed","enabled":true}`, 200},
		{"create", adminKey, "POST", "/keys", `{"name":"bench","owner":"owner-01","scopes":["bots:read"],"ttl":"720h"}`, 201},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				serve(b, c.key, c.method, c.target, c.body, c.want)
			}
		})
	}
}
