package bench

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/keyauth"
	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"
)

// The same request goes through every implementation: GET / with the key
// in X-API-Key, among nKeys issued keys; the handler reads who the caller
// is. Each peer stores SHA-256 digests (no peer keeps plaintext keys here),
// except bcrypt, which stores bcrypt hashes as the tutorials do.
const nKeys = 1000

var sink string

type fixture struct {
	valid, unknown, badChecksum string
	digests                     map[[32]byte]string // digest -> owner
}

func newFixture(b testing.TB, m *apikey.Manager) fixture {
	ctx := context.Background()
	f := fixture{digests: map[[32]byte]string{}}
	for i := range nKeys {
		plain, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
		if err != nil {
			b.Fatal(err)
		}
		f.digests[sha256.Sum256([]byte(plain))] = "alice"
		if i == nKeys/2 {
			f.valid = plain
		}
	}
	other := apikey.New(apikey.NewMemoryStore())
	f.unknown, _, _ = other.Create(ctx, apikey.NewKey{Owner: "x"})
	other.Close()
	f.badChecksum = f.unknown[:len(f.unknown)-1] + "0"
	if f.badChecksum == f.unknown {
		f.badChecksum = f.unknown[:len(f.unknown)-1] + "1"
	}
	return f
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// impl is one way of protecting the handler, driven in process.
type impl struct {
	name string
	// serve handles one request carrying key and returns the status.
	serve func(key string) int
}

func netHTTP(h http.Handler) func(string) int {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := &discard{h: http.Header{}}
	status := 0
	return func(key string) int {
		r.Header.Set("X-API-Key", key)
		clear(w.h)
		rec := &statusWriter{ResponseWriter: w, status: &status}
		status = http.StatusOK
		h.ServeHTTP(rec, r)
		return status
	}
}

type statusWriter struct {
	http.ResponseWriter
	status *int
}

func (s *statusWriter) WriteHeader(code int) { *s.status = code }

func implementations(b testing.TB) ([]impl, fixture) {
	mem := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Minute))
	b.Cleanup(func() { mem.Close() })
	f := newFixture(b, mem)
	whoami := func(r *http.Request) string { p, _ := apikey.FromContext(r.Context()); return p.Owner }
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sink = whoami(r) })

	// The same keys in SQLite behind the verification cache.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "k.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sqlStore, err := apikey.NewSQLStore(db, apikey.SQLite)
	if err != nil {
		b.Fatal(err)
	}
	if err := sqlStore.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	page, err := mem.List(context.Background(), apikey.ListOptions{Limit: apikey.MaxListLimit})
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range page.Keys {
		if err := sqlStore.Create(context.Background(), k); err != nil {
			b.Fatal(err)
		}
	}
	cached := apikey.New(cache.New(sqlStore), apikey.WithLastUsedInterval(time.Minute))
	b.Cleanup(func() { cached.Close() })

	type ctxKey struct{}
	minimal := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner, ok := f.digests[sha256.Sum256([]byte(r.Header.Get("X-API-Key")))]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, owner))
		sink = r.Context().Value(ctxKey{}).(string)
	})

	e := echo.New()
	e.Use(echomw.KeyAuthWithConfig(echomw.KeyAuthConfig{
		KeyLookup: "header:X-API-Key",
		Validator: func(key string, c echo.Context) (bool, error) {
			owner, ok := f.digests[sha256.Sum256([]byte(key))]
			if ok {
				c.Set("owner", owner)
			}
			return ok, nil
		},
	}))
	e.GET("/", func(c echo.Context) error { sink = c.Get("owner").(string); return nil })

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(keyauth.New(keyauth.Config{
		KeyLookup: "header:X-API-Key",
		Validator: func(c *fiber.Ctx, key string) (bool, error) {
			owner, ok := f.digests[sha256.Sum256([]byte(key))]
			if !ok {
				return false, keyauth.ErrMissingOrMalformedAPIKey
			}
			c.Locals("owner", owner)
			return true, nil
		},
	}))
	app.Get("/", func(c *fiber.Ctx) error { sink = c.Locals("owner").(string); return nil })
	fiberHandler := app.Handler()
	var fctx fasthttp.RequestCtx
	fctx.Request.SetRequestURI("/")
	fctx.Request.Header.SetMethod(http.MethodGet)

	// The tutorial pattern: keys are "<id>.<secret>", the server finds the
	// record by id and bcrypt-compares the secret on every request.
	bcryptKeys := map[string][]byte{}
	hash, err := bcrypt.GenerateFromPassword([]byte(f.valid), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	bcryptKeys[f.valid[:8]] = hash
	bcryptMW := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-API-Key")
		if len(key) < 8 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h, ok := bcryptKeys[key[:8]]
		if !ok || bcrypt.CompareHashAndPassword(h, []byte(key)) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sink = "alice"
	})

	return []impl{
		{"apikey", netHTTP(mem.Middleware()(handler))},
		{"apikey-sqlite-cache", netHTTP(cached.Middleware()(handler))},
		{"minimal", netHTTP(minimal)},
		{"echo", netHTTP(e)},
		{"fiber", func(key string) int {
			fctx.Request.Header.Set("X-API-Key", key)
			fctx.Response.Reset()
			fiberHandler(&fctx)
			return fctx.Response.StatusCode()
		}},
		{"bcrypt", netHTTP(bcryptMW)},
	}, f
}

func BenchmarkValidKey(b *testing.B) {
	impls, f := implementations(b)
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			if got := im.serve(f.valid); got != http.StatusOK {
				b.Fatalf("valid key: status %d", got)
			}
			sink = ""
			b.ReportAllocs()
			for b.Loop() {
				im.serve(f.valid)
			}
			if sink != "alice" {
				b.Fatalf("handler saw %q", sink)
			}
		})
	}
}

func BenchmarkInvalidKey(b *testing.B) {
	impls, f := implementations(b)
	for _, reason := range []struct{ name, key string }{{"unknown", f.unknown}, {"checksum", f.badChecksum}} {
		for _, im := range impls {
			b.Run("reason="+reason.name+"/impl="+im.name, func(b *testing.B) {
				if got := im.serve(reason.key); got != http.StatusUnauthorized {
					b.Fatalf("status %d, want 401", got)
				}
				b.ReportAllocs()
				for b.Loop() {
					im.serve(reason.key)
				}
			})
		}
	}
}

// TestImplementationsAgree keeps the benchmarks honest: every
// implementation lets the valid key in and keeps the others out.
func TestImplementationsAgree(t *testing.T) {
	impls, f := implementations(t)
	for _, im := range impls {
		sink = ""
		if got := im.serve(f.valid); got != http.StatusOK || sink != "alice" {
			t.Errorf("%s: valid key got %d (%q)", im.name, got, sink)
		}
		for _, k := range []string{f.unknown, f.badChecksum, "", strings.Repeat("x", 40)} {
			if got := im.serve(k); got == http.StatusOK {
				t.Errorf("%s: let %q in", im.name, k)
			}
		}
	}
}
