package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/testkit"
)

// quotingStore fails while down with errors that quote what it was asked,
// as some drivers quote a statement's arguments.
type quotingStore struct{ *recordingStore }

func (s quotingStore) Get(ctx context.Context, id string) (apikey.Key, error) {
	if s.Down.Load() {
		return apikey.Key{}, fmt.Errorf("reading key %s: %w", id, errDown)
	}
	return s.recordingStore.Get(ctx, id)
}

func (s quotingStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	if s.Down.Load() {
		return nil, fmt.Errorf("listing keys of %q after %q: %w", opts.Owner, opts.After, errDown)
	}
	return s.recordingStore.List(ctx, opts)
}

func (s quotingStore) Update(ctx context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	if s.Down.Load() {
		return apikey.Key{}, fmt.Errorf("updating key %s: %w", id, errDown)
	}
	return s.recordingStore.Update(ctx, id, fn)
}

func (s quotingStore) Delete(ctx context.Context, id string) error {
	if s.Down.Load() {
		return fmt.Errorf("deleting key %s: %w", id, errDown)
	}
	return s.recordingStore.Delete(ctx, id)
}

// holdsKey reports whether s holds plain or 16 characters of its secret in
// a row, or anything else that looks like a key.
func holdsKey(s, plain string) bool {
	secret := plain[strings.LastIndexByte(plain, '_')+1:]
	for i := 0; i+16 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+16]) {
			return true
		}
	}
	return apikey.LooksLikeKey(s)
}

// A key sent where an ID, a cursor, an owner or a value belongs is never
// repeated: not in a response, and not in the log line of a store failure,
// even from a store whose errors quote what it was asked.
func TestKeyGivenAsID(t *testing.T) {
	store := quotingStore{newRecordingStore()}
	keys := apikey.New(store, apikey.WithLastUsedInterval(0))
	t.Cleanup(func() { _ = keys.Close() })
	plain, k, err := keys.Create(context.Background(), apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	var logs testkit.LockedBuffer
	h := admin.New(keys, admin.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	admin := apikey.Principal{KeyID: "session", Owner: "root"}.WithScopes(apikey.AdminScope)

	const looksLikeKey, holdsOne = "That looks like a key, not an ID",
		"The request holds what looks like an API key where none belongs; it is not repeated here"
	esc := url.PathEscape
	cases := []struct {
		method, path, body string
		down               bool
		status             int
		msg                string
	}{
		{"GET", "/keys/" + esc(plain), "", false, 404, looksLikeKey},
		{"GET", "/keys/" + esc(plain), "", true, 404, looksLikeKey},
		{"GET", "/keys/" + esc(plain+"\n"), "", true, 404, looksLikeKey},
		{"GET", "/keys/" + esc("Bearer "+plain), "", true, 404, looksLikeKey},
		{"PATCH", "/keys/" + esc(plain), `{"name":"x"}`, true, 404, looksLikeKey},
		{"DELETE", "/keys/" + esc(plain), "", true, 404, looksLikeKey},
		{"POST", "/keys/" + esc(plain) + "/rotate", `{}`, true, 404, looksLikeKey},
		// The store's error quotes the cursor or the owner: logged, redacted.
		{"GET", "/keys?after=" + url.QueryEscape(plain), "", true, 503, "Service unavailable"},
		{"GET", "/keys?owner=" + url.QueryEscape(plain), "", true, 503, "Service unavailable"},
		// Messages that quote a value of the request.
		{"PATCH", "/keys/" + k.ID, `{"expires_at":"` + plain + `"}`, false, 400, holdsOne},
		{"POST", "/keys", `{"name":"x","ttl":"` + plain + `"}`, false, 400, holdsOne},
		{"POST", "/keys/" + k.ID + "/rotate", `{"grace":"` + plain + `"}`, false, 400, holdsOne},
		{"GET", "/keys?" + url.QueryEscape(plain) + "=1", "", false, 400, holdsOne},
	}
	for i, tc := range cases {
		store.Down.Store(tc.down)
		r := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
		r.URL.RawPath, r.URL.RawQuery, _ = strings.Cut(tc.path, "?")
		r.URL.Path, err = url.PathUnescape(r.URL.RawPath)
		require.NoError(t, err)
		if tc.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r = r.WithContext(apikey.NewContext(r.Context(), admin))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.String()
		// Name the case by its number: its path holds the key.
		if holdsKey(body, plain) {
			t.Errorf("case %d (%s): the response holds the key", i, tc.method)
			continue
		}
		assert.Equal(t, tc.status, w.Code, "case %d (%s): %s", i, tc.method, body)
		assert.JSONEq(t, `{"code":-1,"msg":"`+tc.msg+`"}`, body, "case %d (%s)", i, tc.method)
	}
	store.Down.Store(false)

	out := logs.String()
	if holdsKey(out, plain) {
		t.Error("the log holds the key")
	} else {
		assert.Equal(t, 2, strings.Count(out, "admin: key store failed"), "the store failures were logged:\n%s", out)
		assert.Contains(t, out, "<looks like a key>", "with the key replaced:\n%s", out)
	}
	_, err = keys.Get(context.Background(), k.ID)
	assert.NoError(t, err, "nothing was revoked")
}
