package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/stretchr/testify/require"
)

// BenchmarkStores runs the full middleware path with a valid key over each
// store, so a cache hit on SQL reads against the memory store in one run:
//
//	go test -run '^$' -bench 'Stores' -benchmem -count 6 . | benchstat -col /store -
//
// "+cache" is the store behind cache.New (every request after the
// first is a hit); the plain SQL rows are a round trip per request (a miss).
// PostgreSQL rows run when APIKEY_POSTGRES_DSN is set.
func BenchmarkStores(b *testing.B) {
	type target struct {
		name  string
		store func(b *testing.B) apikey.Store
	}
	sqlStore := func(open func(testing.TB) *sql.DB, d apikey.Dialect) func(b *testing.B) apikey.Store {
		return func(b *testing.B) apikey.Store {
			s, _ := newTable(b, open(b), d)
			return s
		}
	}
	cached := func(inner func(b *testing.B) apikey.Store) func(b *testing.B) apikey.Store {
		return func(b *testing.B) apikey.Store { return cache.New(inner(b)) }
	}
	targets := []target{
		{"memory", func(*testing.B) apikey.Store { return apikey.NewMemoryStore() }},
		{"sqlite+cache", cached(sqlStore(openSQLite, apikey.SQLite))},
		{"sqlite", sqlStore(openSQLite, apikey.SQLite)},
	}
	if os.Getenv(envPostgres) != "" {
		targets = append(targets,
			target{"postgres+cache", cached(sqlStore(openPostgres, apikey.Postgres))},
			target{"postgres", sqlStore(openPostgres, apikey.Postgres)})
	}
	for _, tg := range targets {
		b.Run("store="+tg.name, func(b *testing.B) {
			m := apikey.New(tg.store(b), apikey.WithLastUsedInterval(time.Minute))
			defer m.Close()
			var plain string
			for i := range 1000 {
				p, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
				if err != nil {
					b.Fatal(err)
				}
				if i == 500 {
					plain = p
				}
			}
			var owner string
			h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, _ := apikey.FromContext(r.Context())
				owner = p.Owner
			}))
			runRequests(b, h, plain)
			if owner != "alice" {
				b.Fatalf("handler saw owner %q, want alice", owner)
			}
		})
	}
}

// BenchmarkPostgresMillionKeys verifies keys against a table of 1,000,000
// rows, without a cache: every request is one indexed query. It needs
// APIKEY_POSTGRES_DSN and APIKEY_BENCH_1M=1 (filling the table takes about
// a minute), so CI does not pay for it.
func BenchmarkPostgresMillionKeys(b *testing.B) {
	db := openPostgres(b)
	benchMillionKeys(b, db, apikey.Postgres, `INSERT INTO %s (id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at)
		SELECT lpad(g::text, 26, '0'), 'owner' || (g %% 1000), '', '', '[]', '{}', 'ak_xxxx', 'sha256',
		       sha256(('key' || g)::bytea), true, now(), now()
		FROM generate_series(1, 1000000) AS g`,
		"EXPLAIN ", "Index Scan using %s_digest_key")
}

// BenchmarkSQLiteMillionKeys is BenchmarkPostgresMillionKeys on SQLite
// (modernc.org/sqlite, a file in a temporary directory). It needs
// APIKEY_BENCH_1M=1.
func BenchmarkSQLiteMillionKeys(b *testing.B) {
	db := openSQLite(b)
	benchMillionKeys(b, db, apikey.SQLite, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000000)
		INSERT INTO %s (id, owner, name, description, scopes, metadata, start, hash, digest, enabled, created_at, updated_at)
		SELECT printf('%%026d', n), 'owner' || (n %% 1000), '', '', '[]', '{}', 'ak_xxxx', 'sha256',
		       randomblob(32), 1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z'
		FROM g`,
		"EXPLAIN QUERY PLAN ", "USING INDEX %s_digest_key")
}

// benchMillionKeys fills a new table with fill (a statement with %s for
// the table) and ANALYZEs it, checks with explain that a lookup by digest
// uses the index named by wantPlan (%s for the table), and measures
// verifying a stored and an unknown key.
func benchMillionKeys(b *testing.B, db *sql.DB, d apikey.Dialect, fill, explainPrefix, wantPlan string) {
	if os.Getenv("APIKEY_BENCH_1M") == "" {
		b.Skip("set APIKEY_BENCH_1M=1 to fill a 1,000,000-key table")
	}
	ctx := context.Background()
	s, table := newTable(b, db, d)
	start := time.Now()
	_, err := db.Exec(fmt.Sprintf(fill, table))
	require.NoError(b, err)
	_, err = db.Exec("ANALYZE " + table)
	require.NoError(b, err)
	b.Logf("filled 1,000,000 rows in %v", time.Since(start).Round(time.Second))
	m := apikey.New(s, apikey.WithLastUsedInterval(time.Minute))
	defer m.Close()
	plain, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(b, err)
	unknown, _, err := apikey.New(apikey.NewMemoryStore()).Create(ctx, apikey.NewKey{Owner: "x"})
	require.NoError(b, err)

	plan := explain(b, db, explainPrefix+findByDigestStatement(b, d, table), apikey.SHA256().Sum(nil, plain))
	require.NotContains(b, plan, "Seq Scan", plan)
	require.NotContains(b, plan, "SCAN "+table, plan)
	require.Contains(b, plan, fmt.Sprintf(wantPlan, table), plan)
	b.Logf("plan at 1,000,001 rows:\n%s", plan)

	for _, c := range []struct{ name, key string }{{"valid", plain}, {"unknown", unknown}} {
		b.Run("key="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, err := m.Verify(ctx, c.key)
				if c.name == "valid" && err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// countingStore counts the lookups that reach the store behind a cache.
type countingStore struct {
	apikey.Store
	Finds atomic.Int64
}

func (s *countingStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	s.Finds.Add(1)
	return s.Store.FindByDigest(ctx, d)
}

// BenchmarkCachedStore is the cost of cache.Store.FindByDigest itself: a
// hit, and a miss (an unknown digest, with negative caching off so that
// every call misses), in front of the memory store, alone and from
// concurrent callers, who share lookups; then misses from 16 goroutines in
// front of SQLite and, with APIKEY_POSTGRES_DSN, PostgreSQL, where sharing
// shows. It reports the lookups that reached the store per call
// (finds/op).
//
//	go test -run '^$' -bench 'CachedStore' -benchmem -count 6 .
func BenchmarkCachedStore(b *testing.B) {
	ctx := context.Background()
	known := sha256.Sum256([]byte("known"))
	unknown := sha256.Sum256([]byte("unknown"))
	memory := func(*testing.B) apikey.Store { return apikey.NewMemoryStore() }
	sqlStore := func(open func(testing.TB) *sql.DB, d apikey.Dialect) func(*testing.B) apikey.Store {
		return func(b *testing.B) apikey.Store {
			s, _ := newTable(b, open(b), d)
			return s
		}
	}
	type target struct {
		name        string
		store       func(*testing.B) apikey.Store
		digest      []byte
		found       bool
		parallelism int // goroutines per GOMAXPROCS; 0 for one caller
	}
	targets := []target{
		{"hit", memory, known[:], true, 0},
		{"miss", memory, unknown[:], false, 0},
		{"miss-parallel", memory, unknown[:], false, 1},
		{"miss-parallel-16/sqlite", sqlStore(openSQLite, apikey.SQLite), unknown[:], false, 8},
	}
	if os.Getenv(envPostgres) != "" {
		targets = append(targets, target{"miss-parallel-16/postgres", sqlStore(openPostgres, apikey.Postgres), unknown[:], false, 8})
	}
	for _, tc := range targets {
		b.Run(tc.name, func(b *testing.B) {
			store := &countingStore{Store: tc.store(b)}
			require.NoError(b, store.Create(ctx, apikey.Key{ID: "k1", Owner: "alice", Digest: known[:], Enabled: true, CreatedAt: time.Now(), UpdatedAt: time.Now()}))
			cached := cache.New(store, cache.WithNegativeTTL(0))
			find := func() {
				k, err := cached.FindByDigest(ctx, tc.digest)
				if (err == nil) != tc.found || (tc.found && k.ID != "k1") {
					panic(fmt.Sprintf("FindByDigest: %v, %v", k.ID, err))
				}
			}
			b.ReportAllocs()
			if tc.parallelism > 0 {
				b.SetParallelism(tc.parallelism)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						find()
					}
				})
			} else {
				for b.Loop() {
					find()
				}
			}
			b.ReportMetric(float64(store.Finds.Load())/float64(b.N), "finds/op")
		})
	}
}

// BenchmarkRefusalsUncached measures what an unknown, a disabled and an
// expired key cost on an SQL store without a cache: one indexed lookup
// each, but a found row is read and decoded, a missing one is not.
// SECURITY.md states the difference and whom it can tell anything.
//
//	go test -run '^$' -bench 'RefusalsUncached' -count 6 . | benchstat -col /key -
func BenchmarkRefusalsUncached(b *testing.B) {
	for _, be := range backends {
		if (be.dialect == apikey.Postgres && os.Getenv(envPostgres) == "") || (be.dialect == apikey.MySQL && os.Getenv(envMySQL) == "") {
			continue
		}
		b.Run("store="+be.name, func(b *testing.B) {
			ctx := context.Background()
			s, _ := newTable(b, be.open(b), be.dialect)
			clock := time.Now()
			m := apikey.New(s, apikey.WithLastUsedInterval(0), apikey.WithClock(func() time.Time { return clock }))
			defer m.Close()
			keys := map[string]string{}
			var err error
			if keys["unknown"], _, err = apikey.New(apikey.NewMemoryStore()).Create(ctx, apikey.NewKey{Owner: "alice"}); err != nil {
				b.Fatal(err)
			}
			plain, k, err := m.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Disable(ctx, k.ID); err != nil {
				b.Fatal(err)
			}
			keys["disabled"] = plain
			if keys["expired"], _, err = m.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}, ExpiresAt: clock.Add(time.Second)}); err != nil {
				b.Fatal(err)
			}
			clock = clock.Add(time.Minute)
			for _, name := range []string{"unknown", "disabled", "expired"} {
				b.Run("key="+name, func(b *testing.B) {
					for b.Loop() {
						if _, err := m.Verify(ctx, keys[name]); err == nil || errors.Is(err, apikey.ErrStoreUnavailable) {
							b.Fatalf("%s key: %v", name, err)
						}
					}
				})
			}
		})
	}
}
