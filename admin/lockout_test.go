package admin_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storedAdmins starts a server with no static admin key and n stored admin
// keys, and returns their plaintexts and IDs.
func storedAdmins(t *testing.T, n int) (*env, []string, []string) {
	e := newEnvConfig(t, envConfig{noStatic: true})
	var plains, ids []string
	for range n {
		p, id := e.create(apikey.NewKey{Owner: "ops", Name: "admin", Scopes: []string{apikey.AdminScope}})
		plains, ids = append(plains, p), append(ids, id)
	}
	return e, plains, ids
}

type whoami struct {
	KeyID        string   `json:"key_id"`
	Owner        string   `json:"owner"`
	Scopes       []string `json:"scopes"`
	Admin        bool     `json:"admin"`
	LastAdminKey bool     `json:"last_admin_key"`
}

func (e *env) whoami(key string) whoami {
	e.t.Helper()
	r := e.do("GET", "/admin/whoami", key, "")
	require.Equal(e.t, 200, r.status, r.body)
	var w whoami
	r.json(e.t, &w)
	return w
}

func usableAdmins(t *testing.T, e *env) int {
	t.Helper()
	page, err := e.keys.List(context.Background(), apikey.ListOptions{Limit: apikey.MaxListLimit})
	require.NoError(t, err)
	n := 0
	for _, k := range page.Keys {
		if k.State(time.Now()) == apikey.StateEnabled && k.RotatedTo == "" && len(k.Scopes) > 0 && k.Scopes[0] == apikey.AdminScope {
			n++
		}
	}
	return n
}

// TestLastAdminKey: no change takes away the last usable admin key (409),
// whoever asks; with another one, or for a caller who keeps its access
// anyway (a static admin key), it goes through.
func TestLastAdminKey(t *testing.T) {
	e, plains, ids := storedAdmins(t, 1)
	a, aID := plains[0], ids[0]
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/admin/keys/" + aID, `{"enabled":false}`},
		{"PATCH", "/admin/keys/" + aID + "?cascade=true", `{"enabled":false}`},
		{"PATCH", "/admin/keys/" + aID, `{"scopes":["bots:read"]}`},
		{"PATCH", "/admin/keys/" + aID, `{"expires_at":"` + past + `"}`},
		{"PATCH", "/admin/keys/" + aID, `{"remaining_uses":0}`},
		{"DELETE", "/admin/keys/" + aID, ""},
		{"DELETE", "/admin/keys/" + aID + "?cascade=true", ""},
	} {
		r := e.do(c.method, c.path, a, c.body)
		assert.Equal(t, 409, r.status, "%s %s %s: %s", c.method, c.path, c.body, r.body)
		assert.Contains(t, r.msg(t), "This is the last enabled admin key", c.path)
		assert.Equal(t, 1, usableAdmins(t, e), "%s %s %s", c.method, c.path, c.body)
	}
	me := e.whoami(a)
	assert.Equal(t, whoami{KeyID: aID, Owner: "ops", Scopes: []string{"admin"}, Admin: true, LastAdminKey: true}, me)
	// Changes that keep it an admin key go through.
	assert.Equal(t, 200, e.do("PATCH", "/admin/keys/"+aID, a, `{"name":"root"}`).status)

	// Rotating it leaves its successor, an admin key whose plaintext the
	// answer holds: that is allowed, even with no grace.
	r := e.do("POST", "/admin/keys/"+aID+"/rotate", a, `{}`)
	require.Equal(t, 201, r.status, r.body)
	var s secretBody
	r.json(t, &s)
	a, aID = s.Plaintext, s.Key.ID
	assert.True(t, e.whoami(a).LastAdminKey)
	assert.Equal(t, 409, e.do("DELETE", "/admin/keys/"+aID, a, "").status)

	// With a second admin key, either may go.
	r = e.do("POST", "/admin/keys", a, `{"owner":"ops","name":"second","scopes":["admin"]}`)
	require.Equal(t, 201, r.status, r.body)
	r.json(t, &s)
	b, bID := s.Plaintext, s.Key.ID
	assert.False(t, e.whoami(a).LastAdminKey)
	assert.Equal(t, 200, e.do("PATCH", "/admin/keys/"+aID, b, `{"enabled":false}`).status)
	assert.True(t, e.whoami(b).LastAdminKey)
	assert.Equal(t, 409, e.do("DELETE", "/admin/keys/"+bID, b, "").status)
	assert.Equal(t, 1, usableAdmins(t, e))

	// A key without the admin scope is not an admin: nothing to keep.
	carol, carolID := e.create(apikey.NewKey{Owner: "carol"})
	assert.False(t, e.whoami(carol).LastAdminKey)
	assert.Equal(t, 204, e.do("DELETE", "/admin/keys/"+carolID, carol, "").status)
}

// TestLastAdminKeyOtherWaysIn: a static admin key (configuration, out of
// reach of the API) keeps admins able to sign in, so with one the last
// stored admin key may go; so may it for an admin signed in by the host's
// own login, with no key ID. A host principal naming a key ID is not
// taken for such a login.
func TestLastAdminKeyOtherWaysIn(t *testing.T) {
	e := newEnv(t) // with the static admin key
	a, aID := e.create(apikey.NewKey{Owner: "ops", Scopes: []string{apikey.AdminScope}})
	assert.False(t, e.whoami(a).LastAdminKey)
	assert.False(t, e.whoami(adminKey).LastAdminKey)
	assert.Equal(t, 200, e.do("PATCH", "/admin/keys/"+aID, a, `{"enabled":false}`).status)

	for keyID, want := range map[string]int{"": 200, "session-7": 409} {
		e, _, ids := storedAdmins(t, 1)
		h := admin.New(e.keys)
		req := httptest.NewRequest("PATCH", "/keys/"+ids[0], strings.NewReader(`{"enabled":false}`))
		req.Header.Set("Content-Type", "application/json")
		p := apikey.Principal{KeyID: keyID, Owner: "ops"}.WithScopes(apikey.AdminScope)
		req = req.WithContext(apikey.NewContext(req.Context(), p))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		assert.Equal(t, want, w.Code, "host principal with key ID %q: %s", keyID, w.Body.String())
	}
}

// TestLastAdminKeysRace: two admins each take away the other's key at
// the same moment. Both pass the check made before the change (the other
// key is still there); the check made after it finds no admin key left,
// so a change is undone (409) and an admin key remains.
func TestLastAdminKeysRace(t *testing.T) {
	for _, c := range []struct{ name, method, suffix, body string }{
		{"disable", "PATCH", "", `{"enabled":false}`},
		{"disable with cascade", "PATCH", "?cascade=true", `{"enabled":false}`},
		{"remove the scope", "PATCH", "", `{"scopes":["ops"]}`},
		{"revoke", "DELETE", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, plains, ids := storedAdmins(t, 2)
			// Hold the first write to either key until the other one is
			// under way too, so both requests have checked before either
			// has written.
			var entered atomic.Int32
			release := make(chan struct{})
			hook := func(id string) {
				if id != ids[0] && id != ids[1] {
					return
				}
				switch entered.Add(1) {
				case 1:
					select {
					case <-release:
					case <-time.After(5 * time.Second):
						t.Error("the other change never came")
					}
				case 2:
					close(release)
				}
			}
			e.store.beforeUpdate.Store(&hook)
			var wg sync.WaitGroup
			statuses := make([]response, 2)
			for i := range 2 {
				wg.Go(func() {
					statuses[i] = e.do(c.method, "/admin/keys/"+ids[1-i]+c.suffix, plains[i], c.body)
				})
			}
			wg.Wait()
			e.store.beforeUpdate.Store(nil)
			conflicts := 0
			for _, r := range statuses {
				require.Contains(t, []int{200, 204, 409}, r.status, r.body)
				if r.status == 409 {
					conflicts++
					assert.Contains(t, r.msg(t), "Another change at the same time left no other enabled admin key")
				}
			}
			assert.GreaterOrEqual(t, conflicts, 1)
			assert.GreaterOrEqual(t, usableAdmins(t, e), 1, "an admin key is left")
		})
	}
}

// The last admin key cannot be given limits that may lock its holder out,
// though they leave it enabled: an allow-list its holder may not be
// behind, a rate limit of one request a century, an expiry, a usage limit.
// (Found by review: the guard looked only at the key's state.) Lifting a
// limit is fine.
func TestLastAdminKeyCannotBeRestricted(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"allowed IPs", `{"allowed_ips":["192.0.2.1"]}`},
		{"an expiry", `{"ttl":"720h"}`},
		{"an expiry as a time", `{"expires_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`},
		{"a rate limit", `{"rate_limit":{"limit":1,"window":"2500000h"}}`},
		{"a usage limit", `{"remaining_uses":1000}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, plains, ids := storedAdmins(t, 1)
			r := e.do("PATCH", "/admin/keys/"+ids[0], plains[0], c.body)
			if c.name == "an expiry" {
				// PATCH has no ttl: refused as an unknown field.
				assert.Equal(t, 400, r.status, r.body)
				return
			}
			assert.Equal(t, 409, r.status, r.body)
			assert.Contains(t, r.body, "last enabled admin key")
			for range 3 {
				assert.Equal(t, 200, e.do("GET", "/admin/keys", plains[0], "").status)
			}
		})
	}
	t.Run("lifting a limit", func(t *testing.T) {
		e, plains, ids := storedAdmins(t, 1)
		r := e.do("PATCH", "/admin/keys/"+ids[0], plains[0], `{"rate_limit":null,"expires_at":null}`)
		assert.Equal(t, 200, r.status, r.body)
	})
}
