package apikey_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// The benchmarks below measure the same request through the library and
// through the least a hand-written middleware must do (read the header,
// SHA-256 it, find it in a map, attach the caller to the context), so the
// library's overhead is a ratio read from one run:
//
//	go test -run '^$' -bench 'Middleware' -benchmem -count 6 . | benchstat -col /impl -

var benchSink string

// benchHandler stands for the service's handler: it reads the principal,
// as any real handler would.
func benchHandler(owner func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		benchSink = owner(r)
	})
}

type minimalKey struct{}

type minimalPrincipal struct{ owner string }

// minimalMiddleware is the hand-written floor: no parsing, no checksum, no
// expiry, no last-used, no sources but one header.
func minimalMiddleware(keys map[[32]byte]*minimalPrincipal, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := keys[sha256.Sum256([]byte(r.Header.Get("X-API-Key")))]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), minimalKey{}, p)))
	})
}

// benchImportedShape is the shape of the imported keys BenchmarkPolicy
// verifies: sk- and 48 letters and digits.
var benchImportedShape = regexp.MustCompile(`^sk-[A-Za-z0-9]{48}$`).MatchString

// runRequests is the benchmarks' loop (internal/testkit).
var runRequests = testkit.RunRequests

func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Minute))
	defer m.Close()
	// A realistic table: the key under test among 10,000 others.
	var plain string
	keys := map[[32]byte]*minimalPrincipal{}
	for i := range 10_000 {
		p, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
		if err != nil {
			b.Fatal(err)
		}
		keys[sha256.Sum256([]byte(p))] = &minimalPrincipal{owner: "alice"}
		if i == 5_000 {
			plain = p
		}
	}
	b.Run("impl=minimal", func(b *testing.B) {
		h := minimalMiddleware(keys, benchHandler(func(r *http.Request) string {
			return r.Context().Value(minimalKey{}).(*minimalPrincipal).owner
		}))
		runRequests(b, h, plain)
	})
	b.Run("impl=apikey", func(b *testing.B) {
		h := m.Middleware()(benchHandler(func(r *http.Request) string {
			p, _ := apikey.FromContext(r.Context())
			return p.Owner
		}))
		runRequests(b, h, plain)
	})
	if benchSink != "alice" {
		b.Fatalf("handler saw owner %q, want alice", benchSink)
	}
}

// BenchmarkMiddlewareRefusals measures what refused requests cost: a bad
// checksum is refused without hashing; an unknown key costs one digest and
// one lookup, like a disabled one.
func BenchmarkMiddlewareRefusals(b *testing.B) {
	ctx := context.Background()
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Minute))
	defer m.Close()
	disabled, k, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Disable(ctx, k.ID); err != nil {
		b.Fatal(err)
	}
	unknown, _, err := apikey.New(apikey.NewMemoryStore()).Create(ctx, apikey.NewKey{Owner: "x"})
	if err != nil {
		b.Fatal(err)
	}
	badChecksum := unknown[:len(unknown)-1] + "0"
	if badChecksum == unknown {
		badChecksum = unknown[:len(unknown)-1] + "1"
	}
	h := m.Middleware(apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(apikey.StatusCode(err))
	}))(benchHandler(func(*http.Request) string { return "" }))
	for _, c := range []struct{ name, key string }{
		{"reason=checksum", badChecksum},
		{"reason=unknown", unknown},
		{"reason=disabled", disabled},
	} {
		b.Run(c.name, func(b *testing.B) { runRequests(b, h, c.key) })
	}
}

// benchStatic is the static key of BenchmarkPolicy, acting for alice.
var benchStatic = apikey.StaticKey{Key: "static-bench-key-0123456789", ID: "static:bench", Owner: "alice"}

// BenchmarkPolicy shows what each per-key policy costs on the hot path,
// beside a key that has none (which must cost what BenchmarkMiddleware's
// apikey row does):
//
//	go test -run '^$' -bench 'Policy' -benchmem -count 6 . | benchstat -col /policy -
func BenchmarkPolicy(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts []apikey.Option
		key  apikey.NewKey
	}{
		{"none", nil, apikey.NewKey{}},
		{"ratelimit", nil, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 1 << 30, Window: time.Hour}}},
		{"allowlist", nil, apikey.NewKey{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}},
		{"expiry", nil, apikey.NewKey{ExpiresAt: time.Now().Add(time.Hour)}},
		{"observer", []apikey.Option{apikey.WithObserver(func(context.Context, apikey.Event) {})}, apikey.NewKey{}},
		{"maxage", []apikey.Option{apikey.WithMaxKeyAge(90*24*time.Hour, 365*24*time.Hour)}, apikey.NewKey{}},
		{"uses", nil, apikey.NewKey{MaxUses: 1 << 40}},
		// Three named limits, counted in one Limiter call, beside
		// ratelimit's one.
		{"ratelimits3", nil, apikey.NewKey{RateLimits: []apikey.RateLimit{
			{Name: "second", Limit: 1 << 30, Window: time.Second},
			{Name: "minute", Limit: 1 << 30, Window: time.Minute},
			{Name: "day", Limit: 1 << 30, Window: 24 * time.Hour},
		}}},
		// Credits that refill daily, beside uses' MaxUses.
		{"credits", nil, apikey.NewKey{Refill: &apikey.Refill{Amount: 1 << 40, Interval: apikey.RefillDaily}}},
		// alice's keys share a limit and credits (OwnerPolicy).
		{"owner", nil, apikey.NewKey{}},
		// A stored key, with static keys configured: every key pays the
		// static lookup, so that timing tells nothing.
		{"with-static", []apikey.Option{apikey.WithStaticKeys(benchStatic)}, apikey.NewKey{}},
		// The static key itself.
		{"static", []apikey.Option{apikey.WithStaticKeys(benchStatic)}, apikey.NewKey{}},
		// A key of another system's shape, imported by its SHA-256 digest.
		{"imported", []apikey.Option{apikey.WithImportedKeys(benchImportedShape)}, apikey.NewKey{}},
	}
	for _, c := range cases {
		b.Run("policy="+c.name, func(b *testing.B) {
			m := apikey.New(apikey.NewMemoryStore(), append(c.opts, apikey.WithLastUsedInterval(time.Minute))...)
			defer m.Close()
			c.key.Owner = "alice"
			plain, made, err := m.Create(ctx, c.key)
			if err != nil {
				b.Fatal(err)
			}
			switch c.name {
			case "owner":
				credits := int64(1 << 40)
				if _, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "alice", RemainingUses: &credits,
					RateLimits: []apikey.RateLimit{{Name: "pooled", Limit: 1 << 30, Window: time.Hour}}}); err != nil {
					b.Fatal(err)
				}
			case "static":
				plain = benchStatic.Key
			case "imported":
				plain = "sk-" + strings.Repeat("a1B2", 12)
				d := sha256.Sum256([]byte(plain))
				if _, err := m.Import(ctx, []apikey.ImportKey{{Owner: "alice", SHA256: d[:]}}); err != nil {
					b.Fatal(err)
				}
			}
			h := m.Middleware()(benchHandler(func(r *http.Request) string {
				p, _ := apikey.FromContext(r.Context())
				return p.Owner
			}))
			benchSink = ""
			runRequests(b, h, plain)
			if benchSink != "alice" {
				b.Fatalf("handler saw owner %q, want alice", benchSink)
			}
			// The spending cases spent: the benchmark measured them.
			switch c.name {
			case "uses", "credits":
				if k, err := m.Get(ctx, made.ID); err != nil || k.UsesSpent == 0 {
					b.Fatalf("the key spent nothing (%v)", err)
				}
			case "owner":
				if p, err := m.OwnerPolicy(ctx, "alice"); err != nil || p.UsesSpent == 0 {
					b.Fatalf("the owner spent nothing (%v)", err)
				}
			}
		})
	}
}

// A request of a key with no policy allocates what BenchmarkMiddleware's
// apikey row shows, and metering adds nothing to it: a key without limits
// gets no buckets, and a key with limits gets them in one allocation. (The
// buckets once lived in an array that the Limiter call sent to the heap,
// 800 bytes on every request.)
func TestMiddlewareAllocations(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		key  apikey.NewKey
		max  float64
	}{
		{"no policy", apikey.NewKey{Owner: "alice"}, 2},
		{"three limits", apikey.NewKey{Owner: "alice", RateLimits: []apikey.RateLimit{
			{Name: "second", Limit: 1 << 30, Window: time.Second},
			{Name: "minute", Limit: 1 << 30, Window: time.Minute},
			{Name: "day", Limit: 1 << 30, Window: 24 * time.Hour},
		}}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := apikey.New(apikey.NewMemoryStore(), apikey.WithLastUsedInterval(time.Minute))
			defer m.Close()
			plain, _, err := m.Create(ctx, c.key)
			if err != nil {
				t.Fatal(err)
			}
			h := m.Middleware()(benchHandler(func(r *http.Request) string {
				p, _ := apikey.FromContext(r.Context())
				return p.Owner
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-API-Key", plain)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			allocs := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, r) })
			if allocs > c.max {
				t.Errorf("%v allocations a request, want at most %v", allocs, c.max)
			}
		})
	}
}
