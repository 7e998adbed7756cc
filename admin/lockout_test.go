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
	e := newEnvConfig(t, envConfig{NoStatic: true})
	var plains, ids []string
	for range n {
		p, id := e.Create(apikey.NewKey{Owner: "ops", Name: "admin", Scopes: []string{apikey.AdminScope}})
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

func whoamiOf(e *env, key string) whoami {
	e.T.Helper()
	r := e.Do("GET", "/admin/whoami", key, "")
	require.Equal(e.T, 200, r.Status, r.Body)
	var w whoami
	r.JSON(e.T, &w)
	return w
}

func usableAdmins(t *testing.T, e *env) int {
	t.Helper()
	page, err := e.Keys.List(context.Background(), apikey.ListOptions{Limit: apikey.MaxListLimit})
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
		r := e.Do(c.method, c.path, a, c.body)
		assert.Equal(t, 409, r.Status, "%s %s %s: %s", c.method, c.path, c.body, r.Body)
		assert.Contains(t, r.Msg(t), "This is the last enabled admin key", c.path)
		assert.Equal(t, 1, usableAdmins(t, e), "%s %s %s", c.method, c.path, c.body)
	}
	me := whoamiOf(e, a)
	assert.Equal(t, whoami{KeyID: aID, Owner: "ops", Scopes: []string{"admin"}, Admin: true, LastAdminKey: true}, me)
	// Changes that keep it an admin key go through.
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+aID, a, `{"name":"root"}`).Status)

	// Rotating it leaves its successor, an admin key whose plaintext the
	// answer holds: that is allowed, even with no grace.
	r := e.Do("POST", "/admin/keys/"+aID+"/rotate", a, `{}`)
	require.Equal(t, 201, r.Status, r.Body)
	var s secretBody
	r.JSON(t, &s)
	a, aID = s.Plaintext, s.Key.ID
	assert.True(t, whoamiOf(e, a).LastAdminKey)
	assert.Equal(t, 409, e.Do("DELETE", "/admin/keys/"+aID, a, "").Status)

	// With a second admin key, either may go.
	r = e.Do("POST", "/admin/keys", a, `{"owner":"ops","name":"second","scopes":["admin"]}`)
	require.Equal(t, 201, r.Status, r.Body)
	r.JSON(t, &s)
	b, bID := s.Plaintext, s.Key.ID
	assert.False(t, whoamiOf(e, a).LastAdminKey)
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+aID, b, `{"enabled":false}`).Status)
	assert.True(t, whoamiOf(e, b).LastAdminKey)
	assert.Equal(t, 409, e.Do("DELETE", "/admin/keys/"+bID, b, "").Status)
	assert.Equal(t, 1, usableAdmins(t, e))

	// A key without the admin scope is not an admin: nothing to keep.
	carol, carolID := e.Create(apikey.NewKey{Owner: "carol"})
	assert.False(t, whoamiOf(e, carol).LastAdminKey)
	assert.Equal(t, 204, e.Do("DELETE", "/admin/keys/"+carolID, carol, "").Status)
}

// TestLastAdminKeyOtherWaysIn: a static admin key (configuration, out of
// reach of the API) keeps admins able to sign in, so with one the last
// stored admin key may go; so may it for an admin signed in by the host's
// own login, with no key ID. A host principal naming a key ID is not
// taken for such a login.
func TestLastAdminKeyOtherWaysIn(t *testing.T) {
	e := newEnv(t) // with the static admin key
	a, aID := e.Create(apikey.NewKey{Owner: "ops", Scopes: []string{apikey.AdminScope}})
	assert.False(t, whoamiOf(e, a).LastAdminKey)
	assert.False(t, whoamiOf(e, adminKey).LastAdminKey)
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+aID, a, `{"enabled":false}`).Status)

	for keyID, want := range map[string]int{"": 200, "session-7": 409} {
		e, _, ids := storedAdmins(t, 1)
		h := admin.New(e.Keys)
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
			e.Store.BeforeUpdate.Store(&hook)
			var wg sync.WaitGroup
			statuses := make([]response, 2)
			for i := range 2 {
				wg.Go(func() {
					statuses[i] = e.Do(c.method, "/admin/keys/"+ids[1-i]+c.suffix, plains[i], c.body)
				})
			}
			wg.Wait()
			e.Store.BeforeUpdate.Store(nil)
			conflicts := 0
			for _, r := range statuses {
				require.Contains(t, []int{200, 204, 409}, r.Status, r.Body)
				if r.Status == 409 {
					conflicts++
					assert.Contains(t, r.Msg(t), "Another change at the same time left no other enabled admin key")
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
		{"a named limit", `{"rate_limits":[{"name":"century","limit":1,"window":"876000h"}]}`},
		{"a refill", `{"refill":{"amount":1,"interval":"monthly","day":1}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, plains, ids := storedAdmins(t, 1)
			r := e.Do("PATCH", "/admin/keys/"+ids[0], plains[0], c.body)
			if c.name == "an expiry" {
				// PATCH has no ttl: refused as an unknown field.
				assert.Equal(t, 400, r.Status, r.Body)
				return
			}
			assert.Equal(t, 409, r.Status, r.Body)
			assert.Contains(t, r.Body, "last enabled admin key")
			for range 3 {
				assert.Equal(t, 200, e.Do("GET", "/admin/keys", plains[0], "").Status)
			}
		})
	}
	t.Run("lifting a limit", func(t *testing.T) {
		e, plains, ids := storedAdmins(t, 1)
		r := e.Do("PATCH", "/admin/keys/"+ids[0], plains[0], `{"rate_limit":null,"expires_at":null,"rate_limits":[]}`)
		assert.Equal(t, 200, r.Status, r.Body)
	})
	t.Run("a tighter named limit or refill", func(t *testing.T) {
		e := newEnvConfig(t, envConfig{NoStatic: true})
		plain, id := e.Create(apikey.NewKey{Owner: "ops", Name: "admin", Scopes: []string{apikey.AdminScope},
			RateLimits: []apikey.RateLimit{{Name: "daily", Limit: 1000, Window: 24 * time.Hour}},
			Refill:     &apikey.Refill{Amount: 100, Interval: apikey.RefillDaily}})
		for _, body := range []string{
			`{"rate_limits":[{"name":"daily","limit":1,"window":"1d"}]}`,
			`{"rate_limits":[{"name":"daily","limit":1000,"window":"1d"},{"name":"burst","limit":1,"window":"1s"}]}`,
			`{"refill":{"amount":1,"interval":"daily"}}`,
			`{"refill":{"amount":100,"interval":"monthly","day":1}}`,
			`{"refill":null}`, // its uses would run out
		} {
			r := e.Do("PATCH", "/admin/keys/"+id, plain, body)
			assert.Equal(t, 409, r.Status, "%s: %s", body, r.Body)
		}
		for _, body := range []string{
			`{"rate_limits":[{"name":"daily","limit":1000,"window":"1d"}]}`, // the same
			`{"rate_limits":[{"name":"daily","limit":2000,"window":"1d"}]}`, // looser
			`{"refill":{"amount":100,"interval":"daily","roll_over":true}}`, // no fewer uses
			`{"remaining_uses":null}`, // no usage limit at all
		} {
			r := e.Do("PATCH", "/admin/keys/"+id, plain, body)
			assert.Equal(t, 200, r.Status, "%s: %s", body, r.Body)
		}
	})
}

// The last admin key cannot be locked out through its owner's policy
// either: a policy that gives the owner's keys no uses, or a rate limit
// of one request a century, stops every admin key of that owner as
// surely as a limit on the key itself (409). (A policy was stored, and
// the next request with the last admin key was refused with 402.)
func TestLastAdminKeyCannotBeRestrictedThroughItsOwner(t *testing.T) {
	for _, c := range []struct{ name, body string }{
		{"no uses", `{"remaining_uses":0}`},
		{"a few uses", `{"remaining_uses":3}`},
		{"a rate limit", `{"rate_limits":[{"name":"century","limit":1,"window":"876000h"}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, plains, _ := storedAdmins(t, 1)
			r := e.Do("PUT", "/admin/owners/ops", plains[0], c.body)
			assert.Equal(t, 409, r.Status, r.Body)
			for range 5 {
				require.Equal(t, 200, e.Do("GET", "/admin/keys", plains[0], "").Status, "the admin can still sign in")
			}
		})
	}
	t.Run("another admin key of another owner", func(t *testing.T) {
		e, plains, _ := storedAdmins(t, 1)
		e.Create(apikey.NewKey{Owner: "backup", Name: "admin", Scopes: []string{apikey.AdminScope}})
		r := e.Do("PUT", "/admin/owners/ops", plains[0], `{"remaining_uses":0}`)
		assert.Equal(t, 200, r.Status, r.Body)
	})
}
