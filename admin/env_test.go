package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/require"
)

// adminKey is the static admin key of every test server (owner "root").
const adminKey = "admin-static-key-0123456789abcdef"

// errDown is what a broken store answers.
var errDown = errors.New("database is down")

// recordingStore is a memory store that remembers the digest of every key
// ever stored, so responses can be searched for them, and that fails every
// call while down is set.
type recordingStore struct {
	*apikey.MemoryStore
	down atomic.Bool
	// beforeUpdate, when set, runs before each Update with the key's ID,
	// so a test can hold writes to interleave them.
	beforeUpdate atomic.Pointer[func(id string)]

	mu      sync.Mutex
	digests [][]byte
}

func (s *recordingStore) Create(ctx context.Context, k apikey.Key) error {
	if s.down.Load() {
		return errDown
	}
	s.mu.Lock()
	s.digests = append(s.digests, bytes.Clone(k.Digest))
	s.mu.Unlock()
	return s.MemoryStore.Create(ctx, k)
}

func (s *recordingStore) Get(ctx context.Context, id string) (apikey.Key, error) {
	if s.down.Load() {
		return apikey.Key{}, errDown
	}
	return s.MemoryStore.Get(ctx, id)
}

func (s *recordingStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	if s.down.Load() {
		return apikey.Key{}, errDown
	}
	return s.MemoryStore.FindByDigest(ctx, d)
}

func (s *recordingStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.MemoryStore.List(ctx, opts)
}

func (s *recordingStore) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	if s.down.Load() {
		return apikey.Key{}, errDown
	}
	if hook := s.beforeUpdate.Load(); hook != nil {
		(*hook)(id)
	}
	return s.MemoryStore.Update(ctx, id, fn)
}

func (s *recordingStore) Delete(ctx context.Context, id string) error {
	if s.down.Load() {
		return errDown
	}
	return s.MemoryStore.Delete(ctx, id)
}

// exchange is one response the test server sent.
type exchange struct {
	method, path string
	status       int
	body         string
}

// env is a test server: a host route "/" behind the key middleware, and
// the admin handler mounted bare at /admin/, as the package recommends.
type env struct {
	t     *testing.T
	store *recordingStore
	keys  *apikey.Manager
	srv   *httptest.Server

	mu        sync.Mutex
	exchanges []exchange
	plains    []string // plaintexts made outside the API: never in a response
}

// newEnv starts a test server. Every response it sends is recorded and,
// when the test ends, searched for digests and plaintexts (see leaks).
func newEnv(t *testing.T, opts ...admin.Option) *env {
	t.Helper()
	return newEnvConfig(t, envConfig{adminOpts: opts})
}

// envConfig is what newEnvConfig builds a test server with.
type envConfig struct {
	noStatic  bool            // no static admin key: admins are stored keys
	keyOpts   []apikey.Option // for the Manager
	adminOpts []admin.Option
	store     *recordingStore // a fresh one when nil
}

// newEnvConfig is newEnv with the Manager's options, and without the
// static admin key if asked.
func newEnvConfig(t *testing.T, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, store: cfg.store}
	if e.store == nil {
		e.store = newRecordingStore()
	}
	opts := cfg.keyOpts
	if !cfg.noStatic {
		opts = append(opts, apikey.WithStaticKeys(apikey.StaticKey{
			Key: adminKey, ID: "static:admin", Owner: "root", Name: "admin", Scopes: []string{apikey.AdminScope},
		}))
	}
	e.keys = apikey.New(e.store, opts...)
	t.Cleanup(func() { _ = e.keys.Close() })
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(e.keys, cfg.adminOpts...)))
	mux.Handle("/", e.keys.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.FromContext(r.Context())
		if !ok {
			apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
			return
		}
		fmt.Fprintf(w, "hello %s\n", p.Owner)
	})))
	e.srv = httptest.NewServer(e.record(mux))
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() {
		for _, problem := range e.leaks() {
			t.Error(problem)
		}
	})
	return e
}

// watch records the responses of h and searches them for leaks when t
// ends, as newEnv does, for tests that build their own handler on store.
func watch(t *testing.T, store *recordingStore, h http.Handler) http.Handler {
	e := &env{t: t, store: store}
	t.Cleanup(func() {
		for _, problem := range e.leaks() {
			t.Error(problem)
		}
	})
	return e.record(h)
}

func newRecordingStore() *recordingStore {
	return &recordingStore{MemoryStore: apikey.NewMemoryStore()}
}

// record keeps a copy of every response body.
func (e *env) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		e.mu.Lock()
		e.exchanges = append(e.exchanges, exchange{r.Method, r.URL.Path, rec.status, rec.body.String()})
		e.mu.Unlock()
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// digestForms are the ways a digest could be written into a response.
func digestForms(d []byte) []string {
	return []string{
		hex.EncodeToString(d), strings.ToUpper(hex.EncodeToString(d)),
		base64.StdEncoding.EncodeToString(d), base64.RawStdEncoding.EncodeToString(d),
		base64.URLEncoding.EncodeToString(d), base64.RawURLEncoding.EncodeToString(d),
	}
}

var plaintextField = regexp.MustCompile(`"plaintext":"([^"]+)"`)

// leaks returns what no response may hold: a digest of any key ever
// stored (or of the static key), a "hash" or "digest" field, a plaintext
// made outside the API, or an API-made plaintext anywhere but in the one
// response that created it.
func (e *env) leaks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.store.mu.Lock()
	digests := append([][]byte(nil), e.store.digests...)
	e.store.mu.Unlock()
	static := sha256.Sum256([]byte(adminKey))
	digests = append(digests, static[:])

	var problems []string
	shown := map[string]bool{}
	for _, x := range e.exchanges {
		for _, m := range plaintextField.FindAllStringSubmatch(x.body, -1) {
			shown[m[1]] = true
		}
	}
	for _, x := range e.exchanges {
		where := fmt.Sprintf("%s %s (%d)", x.method, x.path, x.status)
		for _, d := range digests {
			for _, form := range digestForms(d) {
				if strings.Contains(x.body, form) {
					problems = append(problems, fmt.Sprintf("%s: response holds a digest: %s", where, x.body))
				}
			}
		}
		if strings.Contains(x.body, `"hash"`) || strings.Contains(x.body, `"digest"`) {
			problems = append(problems, fmt.Sprintf("%s: response has a hash or digest field: %s", where, x.body))
		}
		for _, p := range append(e.plains, adminKey) {
			if strings.Contains(x.body, p) {
				problems = append(problems, fmt.Sprintf("%s: response holds a plaintext key made outside the API", where))
			}
		}
		for p := range shown {
			if strings.Contains(x.body, p) && (x.method != http.MethodPost || x.status != http.StatusCreated) {
				problems = append(problems, fmt.Sprintf("%s: response holds plaintext %s…", where, p[:8]))
			}
		}
	}
	for p := range shown {
		total := 0
		for _, x := range e.exchanges {
			total += strings.Count(x.body, p)
		}
		if total != 1 {
			problems = append(problems, fmt.Sprintf("plaintext %s… shown %d times, not once", p[:8], total))
		}
	}
	return problems
}

// create makes a key directly with the Manager and returns its plaintext
// and ID.
func (e *env) create(nk apikey.NewKey) (string, string) {
	e.t.Helper()
	plain, k, err := e.keys.Create(context.Background(), nk)
	require.NoError(e.t, err)
	e.mu.Lock()
	e.plains = append(e.plains, plain)
	e.mu.Unlock()
	return plain, k.ID
}

// response is what do returns.
type response struct {
	status int
	header http.Header
	body   string
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.body), v), r.body)
}

// msg returns the msg of an error body, failing unless the body has
// exactly the library's error shape.
func (r response) msg(t *testing.T) string {
	t.Helper()
	var body map[string]any
	r.json(t, &body)
	require.Len(t, body, 2, "error body %s", r.body)
	require.Equal(t, float64(-1), body["code"], r.body)
	msg, ok := body["msg"].(string)
	require.True(t, ok, r.body)
	return msg
}

// do sends a request to the test server. key is sent as X-API-Key when not
// empty; a body is sent as JSON unless contentType says otherwise ("-"
// sends no Content-Type).
func (e *env) do(method, path, key, body string, contentType ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	if len(contentType) > 0 {
		ct = contentType[0]
	}
	if ct != "" && ct != "-" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// keyBody is the part of a key's JSON the tests read.
type keyBody struct {
	ID          string            `json:"id"`
	Owner       string            `json:"owner"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Scopes      []string          `json:"scopes"`
	Metadata    map[string]string `json:"metadata"`
	Start       string            `json:"start"`
	State       string            `json:"state"`
	Enabled     bool              `json:"enabled"`
	ExpiresAt   *string           `json:"expires_at"`
	LastUsedAt  *string           `json:"last_used_at"`
	RateLimit   *struct {
		Limit  int
		Window string
	} `json:"rate_limit"`
	AllowedIPs    []string `json:"allowed_ips"`
	RemainingUses *int64   `json:"remaining_uses"`
	RotatedTo     *string  `json:"rotated_to"`
	CreatedBy     *string  `json:"created_by"`
	DisabledBy    *string  `json:"disabled_by"`
}

type listBody struct {
	Keys []keyBody `json:"keys"`
	Next string    `json:"next"`
}

type secretBody struct {
	Plaintext string  `json:"plaintext"`
	Key       keyBody `json:"key"`
}
