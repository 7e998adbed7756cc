// Package admintest is the test server of the admin handler's tests: a
// host route behind the key middleware and the admin handler mounted at
// /admin/, over a store that records every digest it keeps, and a check,
// when the test ends, that no response held a digest or a plaintext it
// should not. It is shared by the admin package's tests and those that
// need a browser or a router (module internal/integration).
package admintest

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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/require"
)

// AdminKey is the static admin key of every test server (owner "root").
const AdminKey = "admin-static-key-0123456789abcdef"

// ErrDown is what a broken store answers.
var ErrDown = errors.New("database is down")

// RecordingStore is a memory store that remembers the digest of every key
// ever stored, so responses can be searched for them, and that fails every
// call while Down is set.
type RecordingStore struct {
	*apikey.MemoryStore
	Down atomic.Bool
	// beforeUpdate, when set, runs before each Update with the key's ID,
	// so a test can hold writes to interleave them.
	BeforeUpdate atomic.Pointer[func(id string)]

	mu      sync.Mutex
	digests [][]byte
}

// Create implements apikey.Store, failing while Down is set.
func (s *RecordingStore) Create(ctx context.Context, k apikey.Key) error {
	if s.Down.Load() {
		return ErrDown
	}
	s.mu.Lock()
	s.digests = append(s.digests, bytes.Clone(k.Digest))
	s.mu.Unlock()
	return s.MemoryStore.Create(ctx, k)
}

// Get implements apikey.Store, failing while Down is set.
func (s *RecordingStore) Get(ctx context.Context, id string) (apikey.Key, error) {
	if s.Down.Load() {
		return apikey.Key{}, ErrDown
	}
	return s.MemoryStore.Get(ctx, id)
}

// FindByDigest implements apikey.Store, failing while Down is set.
func (s *RecordingStore) FindByDigest(ctx context.Context, d []byte) (apikey.Key, error) {
	if s.Down.Load() {
		return apikey.Key{}, ErrDown
	}
	return s.MemoryStore.FindByDigest(ctx, d)
}

// List implements apikey.Store, failing while Down is set.
func (s *RecordingStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if s.Down.Load() {
		return nil, ErrDown
	}
	return s.MemoryStore.List(ctx, opts)
}

// Update implements apikey.Store, failing while Down is set.
func (s *RecordingStore) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	if s.Down.Load() {
		return apikey.Key{}, ErrDown
	}
	if hook := s.BeforeUpdate.Load(); hook != nil {
		(*hook)(id)
	}
	return s.MemoryStore.Update(ctx, id, fn)
}

// Delete implements apikey.Store, failing while Down is set.
func (s *RecordingStore) Delete(ctx context.Context, id string) error {
	if s.Down.Load() {
		return ErrDown
	}
	return s.MemoryStore.Delete(ctx, id)
}

// Exchange is one response the test server sent.
type Exchange struct {
	Method, Path string
	Status       int
	Body         string
	// Query is the request's raw query, which a page's search may fill.
	Query string
}

// Env is a test server: a host route "/" behind the key middleware, and
// the admin handler mounted bare at /admin/, as the package recommends.
type Env struct {
	T     *testing.T
	Store *RecordingStore
	Keys  *apikey.Manager
	Srv   *httptest.Server

	mu sync.Mutex
	// Exchanges are the responses sent so far. A test of the leak check
	// may set them.
	Exchanges []Exchange
	Plains    []string // plaintexts made outside the API: never in a response
}

// NewEnv starts a test server. Every response it sends is recorded and,
// when the test ends, searched for digests and plaintexts (see Leaks).
func NewEnv(t *testing.T, opts ...admin.Option) *Env {
	t.Helper()
	return NewEnvConfig(t, Config{AdminOpts: opts})
}

// Config is what NewEnvConfig builds a test server with.
type Config struct {
	NoStatic  bool            // no static admin key: admins are stored keys
	KeyOpts   []apikey.Option // for the Manager
	AdminOpts []admin.Option
	Store     *RecordingStore // a fresh one when nil
}

// NewEnvConfig is NewEnv with the Manager's options, and without the
// static admin key if asked.
func NewEnvConfig(t *testing.T, cfg Config) *Env {
	t.Helper()
	e := &Env{T: t, Store: cfg.Store}
	if e.Store == nil {
		e.Store = NewRecordingStore()
	}
	opts := cfg.KeyOpts
	if !cfg.NoStatic {
		opts = append(opts, apikey.WithStaticKeys(apikey.StaticKey{
			Key: AdminKey, ID: "static:admin", Owner: "root", Name: "admin", Scopes: []string{apikey.AdminScope},
		}))
	}
	e.Keys = apikey.New(e.Store, opts...)
	t.Cleanup(func() { _ = e.Keys.Close() })
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(e.Keys, cfg.AdminOpts...)))
	mux.Handle("/", e.Keys.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := apikey.FromContext(r.Context())
		if !ok {
			apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
			return
		}
		fmt.Fprintf(w, "hello %s\n", p.Owner)
	})))
	e.Srv = httptest.NewServer(e.Record(mux))
	t.Cleanup(e.Srv.Close)
	t.Cleanup(func() {
		for _, problem := range e.Leaks() {
			t.Error(problem)
		}
	})
	return e
}

// Watch records the responses of h and searches them for leaks when t
// ends, as NewEnv does, for tests that build their own handler on store.
func Watch(t *testing.T, store *RecordingStore, h http.Handler) http.Handler {
	e := &Env{T: t, Store: store}
	t.Cleanup(func() {
		for _, problem := range e.Leaks() {
			t.Error(problem)
		}
	})
	return e.Record(h)
}

// NewKeys returns a new RecordingStore and a Manager over it with the
// static admin key AdminKey, closed when t ends, for tests that build
// their own server.
func NewKeys(t *testing.T) (*RecordingStore, *apikey.Manager) {
	store := NewRecordingStore()
	keys := apikey.New(store, apikey.WithStaticKeys(apikey.StaticKey{
		Key: AdminKey, ID: "static:admin", Owner: "root", Scopes: []string{apikey.AdminScope},
	}))
	t.Cleanup(func() { _ = keys.Close() })
	return store, keys
}

// NewRecordingStore returns an empty RecordingStore.
func NewRecordingStore() *RecordingStore {
	return &RecordingStore{MemoryStore: apikey.NewMemoryStore()}
}

// Record keeps a copy of every response body.
func (e *Env) Record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		e.mu.Lock()
		e.Exchanges = append(e.Exchanges, Exchange{Method: r.Method, Path: r.URL.Path, Status: rec.status, Body: rec.body.String(), Query: r.URL.RawQuery})
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

// Leaks returns what no response may hold: a digest of any key ever
// stored (or of the static key), a "hash" or "digest" field, a plaintext
// made outside the API, or an API-made plaintext anywhere but in the one
// response that created it.
func (e *Env) Leaks() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Store.mu.Lock()
	digests := append([][]byte(nil), e.Store.digests...)
	e.Store.mu.Unlock()
	static := sha256.Sum256([]byte(AdminKey))
	digests = append(digests, static[:])

	var problems []string
	shown := map[string]bool{}
	for _, x := range e.Exchanges {
		for _, m := range plaintextField.FindAllStringSubmatch(x.Body, -1) {
			shown[m[1]] = true
		}
	}
	for _, x := range e.Exchanges {
		where := fmt.Sprintf("%s %s (%d)", x.Method, x.Path, x.Status)
		for _, d := range digests {
			for _, form := range digestForms(d) {
				if strings.Contains(x.Body, form) {
					problems = append(problems, fmt.Sprintf("%s: response holds a digest: %s", where, x.Body))
				}
			}
		}
		if strings.Contains(x.Body, `"hash"`) || strings.Contains(x.Body, `"digest"`) {
			problems = append(problems, fmt.Sprintf("%s: response has a hash or digest field: %s", where, x.Body))
		}
		for _, p := range append(e.Plains, AdminKey) {
			if strings.Contains(x.Body, p) {
				problems = append(problems, fmt.Sprintf("%s: response holds a plaintext key made outside the API", where))
			}
		}
		for p := range shown {
			if strings.Contains(x.Body, p) && (x.Method != http.MethodPost || x.Status != http.StatusCreated) {
				problems = append(problems, fmt.Sprintf("%s: response holds plaintext %s…", where, p[:8]))
			}
		}
	}
	for p := range shown {
		total := 0
		for _, x := range e.Exchanges {
			total += strings.Count(x.Body, p)
		}
		if total != 1 {
			problems = append(problems, fmt.Sprintf("plaintext %s… shown %d times, not once", p[:8], total))
		}
	}
	return problems
}

// Seen returns a copy of the responses sent so far.
func (e *Env) Seen() []Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.Exchanges)
}

// Create makes a key directly with the Manager and returns its plaintext
// and ID.
func (e *Env) Create(nk apikey.NewKey) (string, string) {
	e.T.Helper()
	plain, k, err := e.Keys.Create(context.Background(), nk)
	require.NoError(e.T, err)
	e.mu.Lock()
	e.Plains = append(e.Plains, plain)
	e.mu.Unlock()
	return plain, k.ID
}

// Response is what Do returns.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body into v.
func (r Response) JSON(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.Body), v), r.Body)
}

// Msg returns the msg of an error body, failing unless the body has
// exactly the library's error shape.
func (r Response) Msg(t *testing.T) string {
	t.Helper()
	var body map[string]any
	r.JSON(t, &body)
	require.Len(t, body, 2, "error body %s", r.Body)
	require.Equal(t, float64(-1), body["code"], r.Body)
	msg, ok := body["msg"].(string)
	require.True(t, ok, r.Body)
	return msg
}

// Do sends a request to the test server. key is sent as X-API-Key when not
// empty; a body is sent as JSON unless contentType says otherwise ("-"
// sends no Content-Type).
func (e *Env) Do(method, path, key, body string, contentType ...string) Response {
	e.T.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.Srv.URL+path, rd)
	require.NoError(e.T, err)
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
	resp, err := e.Srv.Client().Do(req)
	require.NoError(e.T, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.T, err)
	return Response{resp.StatusCode, resp.Header, string(b)}
}

// KeyBody is the part of a key's JSON the tests read.
type KeyBody struct {
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

// ListBody is a list response.
type ListBody struct {
	Keys []KeyBody `json:"keys"`
	Next string    `json:"next"`
}

// SecretBody is the response to a create or a rotation.
type SecretBody struct {
	Plaintext string  `json:"plaintext"`
	Key       KeyBody `json:"key"`
}
