// Package testkit is what the tests of this repository share: the log scan
// that fails a test binary whose logs hold a key, the skip summary (Need,
// SkipFor), a settable clock, a store that counts calls and fails on
// demand, and helpers that make Managers and keys whose plaintexts the
// scan knows.
//
// The log scan (SECURITY.md: "No key in logs"): every Manager made by
// NewManager logs at Debug, and its decisions through SlogObserver, into
// one buffer, as does slog.Default once Main has run; MustCreate and
// Remember note each plaintext a test issues. After the run, Main fails
// the binary if a log line holds any remembered key, any RunLen characters
// of its secret, or anything else that parses as a key (a checksum-valid
// <prefix>_<36 base62>), which also catches keys tests issue with
// Manager.Create or Rotate directly. Reading the log once costs
// milliseconds.
//
// The skip summary: a test that needs a server takes its address from Need,
// which skips it when the variable is unset. go test ./... shows nothing of
// a passing package but its "ok" line, so Main then ends the run with one
// line per missing server, such as
//
//	skip	github.com/go-apikey/apikey/pgfeed	4 tests need PostgreSQL: set APIKEY_POSTGRES_DSN to run them
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// LockedBuffer is a bytes.Buffer that many loggers may write concurrently.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written.
func (b *LockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// String returns what was written.
func (b *LockedBuffer) String() string { return string(b.Bytes()) }

var (
	suiteLog LockedBuffer
	// Logger is the test binary's logger, which Main scans for keys.
	Logger = slog.New(slog.NewJSONHandler(&suiteLog, &slog.HandlerOptions{Level: slog.LevelDebug}))

	issuedMu sync.Mutex
	issued   []string // every plaintext the helpers issued
)

// LogWriter is where Logger writes: a test that logs through a logger of
// its own can write there too, to have its lines scanned.
var LogWriter io.Writer = &suiteLog

// Remember notes plaintext keys for the log scan.
func Remember(plains ...string) {
	issuedMu.Lock()
	issued = append(issued, plains...)
	issuedMu.Unlock()
}

// Main runs the tests, then fails the binary if its logs hold a key, and
// says which tests skipped for want of a server (see Need). Call it from
// TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain with work of its own after the tests: it
// returns the exit code instead of exiting.
func Run(m *testing.M) int {
	// Managers made without WithLogger log to slog.Default: scan that too,
	// and still show it on stderr.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, &suiteLog), nil)))
	code := m.Run()
	reportSkips(skipLines(testedPackage()), os.Stdout, isPipe(os.Stdout), testing.Verbose(), code == 0, openTTY)
	issuedMu.Lock()
	keys := issued
	issuedMu.Unlock()
	if leaks := ScanForKeys(suiteLog.Bytes(), keys); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d log lines hold a key or part of one (SECURITY.md: no key in logs):\n", len(leaks))
		for i, l := range leaks {
			if i == 20 {
				fmt.Fprintf(os.Stderr, "\t…\n")
				break
			}
			fmt.Fprintf(os.Stderr, "\t%s\n", l)
		}
		code = 1
	}
	return code
}

// RunLen is how many consecutive secret characters count as a leak: more
// than the 4 of Key.Start, far too many to match by chance.
const RunLen = 16

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// ChangeLast returns a key with its last character replaced by another
// one, so the result is never the key itself: a fixed replacement is the
// key's own last character 1 time in 62.
func ChangeLast(s string) string {
	if strings.HasSuffix(s, "x") {
		return s[:len(s)-1] + "y"
	}
	return s[:len(s)-1] + "x"
}

// SecretOf returns the part of plain after its prefix.
func SecretOf(plain string) string { return plain[strings.LastIndexByte(plain, '_')+1:] }

// ScanForKeys returns the lines of logs that hold one of keys, RunLen
// characters of one's secret, or any string that parses as a key. It reads
// logs once: windows of runs of base62 characters are looked up in a set,
// and only keys of another shape (static keys) are searched for whole.
func ScanForKeys(logs []byte, keys []string) []string {
	windows := map[string]string{} // RunLen characters of a secret -> its key's Start
	var odd []string               // keys that are not runs of base62 characters
	for _, k := range keys {
		s := SecretOf(k)
		if len(s) < RunLen || strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !isBase62(byte(r)) }) >= 0 {
			odd = append(odd, k)
			continue
		}
		for i := 0; i+RunLen <= len(s); i++ {
			windows[s[i:i+RunLen]] = k[:len(k)-len(s)+4]
		}
	}
	var leaks []string
	for line := range bytes.Lines(logs) {
		if why := lineLeak(line, windows, odd); why != "" {
			leaks = append(leaks, why+": "+strings.TrimSpace(string(line)))
		}
	}
	return leaks
}

func lineLeak(line []byte, windows map[string]string, odd []string) string {
	for _, k := range odd {
		if bytes.Contains(line, []byte(k)) {
			return "a static key"
		}
	}
	for i := 0; i < len(line); {
		if !isBase62(line[i]) {
			i++
			continue
		}
		j := i
		for j < len(line) && isBase62(line[j]) {
			j++
		}
		for w := i; w+RunLen <= j; w++ {
			if start, ok := windows[string(line[w:w+RunLen])]; ok {
				return "part of key " + start + "…"
			}
		}
		// A whole key: <prefix>_<36 base62> with a valid checksum.
		if j-i >= 36 && i > 1 && line[i-1] == '_' {
			for p := max(0, i-1-apikey.MaxPrefixLen); p < i-1; p++ {
				if _, err := apikey.ParseKey(string(line[p : i+36])); err == nil {
					return "a key with prefix " + string(line[p:i-1])
				}
			}
		}
		i = j
	}
	return ""
}

// FakeClock is a settable clock; no test sleeps to pass time.
type FakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewFakeClock returns a clock at a fixed time in November 2026.
func NewFakeClock() *FakeClock {
	return &FakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock on by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SpyStore wraps a MemoryStore, counts calls and can be told to fail. It
// is not the MemoryStore type itself, so a Manager calls it through the
// Store interface, as it would a database.
type SpyStore struct {
	*apikey.MemoryStore
	fail          atomic.Pointer[error]
	Finds         atomic.Int64 // FindByDigest calls
	LastUsedCalls atomic.Int64 // RecordLastUsed calls
	LastUsedKeys  atomic.Int64 // keys in them
}

// NewSpyStore returns an empty SpyStore.
func NewSpyStore() *SpyStore { return &SpyStore{MemoryStore: apikey.NewMemoryStore()} }

// FailWith makes FindByDigest and RecordLastUsed fail with err (nil: succeed).
func (s *SpyStore) FailWith(err error) { s.fail.Store(&err) }

// Heal makes them succeed again.
func (s *SpyStore) Heal() { s.fail.Store(nil) }

func (s *SpyStore) err() error {
	if p := s.fail.Load(); p != nil {
		return *p
	}
	return nil
}

// FindByDigest implements apikey.Store.
func (s *SpyStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	s.Finds.Add(1)
	if err := s.err(); err != nil {
		return apikey.Key{}, err
	}
	return s.MemoryStore.FindByDigest(ctx, d)
}

// RecordLastUsed implements apikey.Store.
func (s *SpyStore) RecordLastUsed(ctx context.Context, used map[string]time.Time) error {
	s.LastUsedCalls.Add(1)
	if err := s.err(); err != nil {
		return err
	}
	s.LastUsedKeys.Add(int64(len(used)))
	return s.MemoryStore.RecordLastUsed(ctx, used)
}

// NewManager returns a Manager closed when t ends. It logs at Debug, and
// its decisions through SlogObserver, into Logger, which Main scans for
// keys; opts may replace either.
func NewManager(t testing.TB, store apikey.Store, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	m := apikey.New(store, append([]apikey.Option{apikey.WithLogger(Logger), apikey.WithObserver(apikey.SlogObserver(Logger))}, opts...)...)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// MustCreate creates a key (owner alice unless nk says otherwise) and
// remembers its plaintext for the log scan.
func MustCreate(t testing.TB, m *apikey.Manager, nk apikey.NewKey) (string, apikey.Key) {
	t.Helper()
	if nk.Owner == "" {
		nk.Owner = "alice"
	}
	plain, k, err := m.Create(context.Background(), nk)
	require.NoError(t, err)
	Remember(plain)
	return plain, k
}

// discard is a ResponseWriter that keeps nothing, so benchmarks do not
// measure httptest.ResponseRecorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// RunRequests is a benchmark's loop: the same GET, with key in X-API-Key,
// through h, reporting allocations.
func RunRequests(b *testing.B, h http.Handler, key string) {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/platform/bots", nil)
	r.Header.Set("X-API-Key", key)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// Whoami answers 200 with the principal's owner, or 500 if there is none.
var Whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write([]byte(p.Owner))
})

// Serve runs r through h and returns what h answered.
func Serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// Get returns a GET request for target with headers, given as name,
// value pairs.
func Get(target string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// LogLines is a slog JSON handler's output, read back as records.
type LogLines struct{ LockedBuffer }

// Records returns the lines written so far, each decoded from JSON.
func (l *LogLines) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		out = append(out, rec)
	}
	return out
}
