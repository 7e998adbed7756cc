package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bounded is one request by a key without the admin scope.
type bounded struct {
	name   string
	method string
	path   string // "{self}" is the caller's key, "{other}" another key of its owner
	body   string
	status int
	msg    string // a part of the error message
}

// runBounded sends each request as a fresh key of owner alice made from
// caller (in a fresh server), with a second key of hers, other, made from
// otherKey.
func runBounded(t *testing.T, cfg envConfig, caller, otherKey apikey.NewKey, cases []bounded) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnvConfig(t, cfg)
			caller.Owner, otherKey.Owner = "alice", "alice"
			plain, self := e.Create(caller)
			_, other := e.Create(otherKey)
			path := strings.NewReplacer("{self}", self, "{other}", other).Replace(c.path)
			r := e.Do(c.method, path, plain, c.body)
			require.Equal(t, c.status, r.Status, r.Body)
			if c.status >= 400 {
				assert.Contains(t, r.Msg(t), c.msg)
			}
		})
	}
}

// TestCreateWithinCallerBounds: a key without the admin scope creates
// keys no more powerful than itself: uses, rate, expiry, addresses.
func TestCreateWithinCallerBounds(t *testing.T) {
	runBounded(t, envConfig{}, apikey.NewKey{Scopes: []string{"bots:read"}, MaxUses: 1}, apikey.NewKey{}, []bounded{
		// Its one use is spent on the request itself: nothing is left.
		{"single use, unlimited key", "POST", "/admin/keys", `{"name":"x"}`, 403, "usage limit (0 uses left)"},
		{"single use, one use", "POST", "/admin/keys", `{"name":"x","max_uses":1}`, 403, "more than the 0 your key has left"},
	})
	runBounded(t, envConfig{}, apikey.NewKey{MaxUses: 5}, apikey.NewKey{}, []bounded{
		{"fewer uses", "POST", "/admin/keys", `{"max_uses":4}`, 201, ""},
		{"more uses", "POST", "/admin/keys", `{"max_uses":5}`, 403, "more than the 4 your key has left"},
		{"no usage limit", "POST", "/admin/keys", `{}`, 403, "needs one of at most 4 uses"},
	})
	minute := apikey.RateLimit{Limit: 10, Window: time.Minute}
	runBounded(t, envConfig{}, apikey.NewKey{RateLimit: minute}, apikey.NewKey{}, []bounded{
		{"no rate limit", "POST", "/admin/keys", `{}`, 403, "rate limited (10 per 1m0s)"},
		{"tighter", "POST", "/admin/keys", `{"rate_limit":{"limit":5,"window":"1m"}}`, 201, ""},
		{"same rate, smaller burst", "POST", "/admin/keys", `{"rate_limit":{"limit":5,"window":"30s"}}`, 201, ""},
		{"lower rate, same burst", "POST", "/admin/keys", `{"rate_limit":{"limit":10,"window":"2m"}}`, 201, ""},
		{"higher rate", "POST", "/admin/keys", `{"rate_limit":{"limit":20,"window":"1m"}}`, 403, "looser than your key's 10 per 1m0s"},
		{"higher rate, smaller burst", "POST", "/admin/keys", `{"rate_limit":{"limit":2,"window":"1s"}}`, 403, "looser"},
		{"lower rate, bigger burst", "POST", "/admin/keys", `{"rate_limit":{"limit":100,"window":"1h"}}`, 403, "looser"},
		{"huge numbers", "POST", "/admin/keys", `{"rate_limit":{"limit":9223372036854775807,"window":"2562047h"}}`, 403, "looser"},
	})
	// The Manager's default is what a key without a rate limit has.
	runBounded(t, envConfig{KeyOpts: []apikey.Option{apikey.WithDefaultRateLimit(10, time.Minute)}}, apikey.NewKey{}, apikey.NewKey{}, []bounded{
		{"default, none", "POST", "/admin/keys", `{}`, 201, ""},
		{"default, looser", "POST", "/admin/keys", `{"rate_limit":{"limit":100,"window":"1m"}}`, 403, "looser than your key's 10 per 1m0s"},
		{"default, tighter", "POST", "/admin/keys", `{"rate_limit":{"limit":1,"window":"1m"}}`, 201, ""},
	})
	runBounded(t, envConfig{}, apikey.NewKey{ExpiresAt: time.Now().Add(time.Hour)}, apikey.NewKey{}, []bounded{
		{"never expires", "POST", "/admin/keys", `{}`, 403, "so this key must expire by then"},
		{"expires sooner", "POST", "/admin/keys", `{"ttl":"30m"}`, 201, ""},
		{"expires later", "POST", "/admin/keys", `{"ttl":"2h"}`, 403, "must expire by then"},
	})
	ips := []netip.Prefix{netipPrefix("127.0.0.0/8"), netipPrefix("10.0.0.0/8")}
	runBounded(t, envConfig{}, apikey.NewKey{AllowedIPs: ips}, apikey.NewKey{}, []bounded{
		{"anywhere", "POST", "/admin/keys", `{}`, 403, "works only from 127.0.0.0/8, 10.0.0.0/8"},
		{"narrower", "POST", "/admin/keys", `{"allowed_ips":["127.0.0.1","10.9.0.0/16"]}`, 201, ""},
		{"outside", "POST", "/admin/keys", `{"allowed_ips":["127.0.0.1","192.168.0.0/16"]}`, 403, "192.168.0.0/16 is outside"},
		{"wider", "POST", "/admin/keys", `{"allowed_ips":["0.0.0.0/0"]}`, 403, "0.0.0.0/0 is outside"},
		{"IPv6", "POST", "/admin/keys", `{"allowed_ips":["::1"]}`, 403, "::1/128 is outside"},
	})
}

// TestChangeWithinCallerBounds: a key without the admin scope cannot lift
// its own limits, nor give another key more than it has; lowering them,
// or changing what bounds nothing, is fine.
func TestChangeWithinCallerBounds(t *testing.T) {
	soon := time.Now().Add(time.Hour)
	caller := apikey.NewKey{MaxUses: 5, RateLimit: apikey.RateLimit{Limit: 10, Window: time.Minute}, ExpiresAt: soon}
	later := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	runBounded(t, envConfig{}, caller, apikey.NewKey{}, []bounded{
		{"own uses up", "PATCH", "/admin/keys/{self}", `{"remaining_uses":100}`, 403, "more than the 4 your key has left"},
		{"own usage limit lifted", "PATCH", "/admin/keys/{self}", `{"remaining_uses":null}`, 403, "usage limit"},
		{"own rate limit lifted", "PATCH", "/admin/keys/{self}", `{"rate_limit":null}`, 403, "rate limited"},
		{"own rate limit loosened", "PATCH", "/admin/keys/{self}", `{"rate_limit":{"limit":11,"window":"1m"}}`, 403, "looser"},
		{"own expiry lifted", "PATCH", "/admin/keys/{self}", `{"expires_at":null}`, 403, "must expire by then"},
		{"own expiry later", "PATCH", "/admin/keys/{self}", `{"expires_at":"` + later + `"}`, 403, "must expire by then"},
		{"own uses down", "PATCH", "/admin/keys/{self}", `{"remaining_uses":2}`, 200, ""},
		{"own rename", "PATCH", "/admin/keys/{self}", `{"name":"mine"}`, 200, ""},
		// other has no limits at all: bounded changes to it must bring it
		// within the caller's, and others leave it as it is.
		{"other: expiry alone", "PATCH", "/admin/keys/{other}", `{"expires_at":"` + time.Now().Add(30*time.Minute).UTC().Format(time.RFC3339) + `"}`, 403, "usage limit"},
		{"other: within every bound", "PATCH", "/admin/keys/{other}",
			`{"remaining_uses":3,"rate_limit":{"limit":1,"window":"1m"},"expires_at":"` + time.Now().Add(30*time.Minute).UTC().Format(time.RFC3339) + `"}`, 200, ""},
		{"other: rename", "PATCH", "/admin/keys/{other}", `{"name":"renamed","description":"d","metadata":{"a":"b"}}`, 200, ""},
		{"other: disable", "PATCH", "/admin/keys/{other}", `{"enabled":false}`, 200, ""},
		{"rotate other, beyond bounds", "POST", "/admin/keys/{other}/rotate", `{}`, 403, "whose new key would go beyond your own"},
		{"rotate self", "POST", "/admin/keys/{self}/rotate", `{}`, 201, ""},
	})
}

// TestStaticAndHostPrincipalBounds: a static key without the admin scope
// has no stored record to bound keys by, so it gives no key anything; a
// principal the host put on the context (its own login) is bounded by its
// scopes only.
func TestStaticAndHostPrincipalBounds(t *testing.T) {
	const static = "alice-static-key-0123456789abcdef"
	e := newEnvConfig(t, envConfig{KeyOpts: []apikey.Option{apikey.WithStaticKeys(apikey.StaticKey{
		Key: static, ID: "static:alice", Owner: "alice", Scopes: []string{"bots:read"},
		RateLimit: apikey.RateLimit{Limit: 1000, Window: time.Second},
	})}})
	_, ci := e.Create(apikey.NewKey{Owner: "alice", Name: "ci", Scopes: []string{"bots:read"}})
	r := e.Do("POST", "/admin/keys", static, `{"name":"x"}`)
	assert.Equal(t, 403, r.Status)
	assert.Contains(t, r.Msg(t), "not a stored key (a static key)")
	assert.Equal(t, 403, e.Do("PATCH", "/admin/keys/"+ci, static, `{"remaining_uses":null}`).Status)
	assert.Equal(t, 403, e.Do("POST", "/admin/keys/"+ci+"/rotate", static, `{}`).Status)
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+ci, static, `{"name":"renamed"}`).Status)
	assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+ci, static, `{"enabled":false}`).Status)

	h := admin.New(e.Keys)
	serve := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(apikey.NewContext(req.Context(), apikey.Principal{Owner: "alice"}.WithScopes("bots:read")))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := serve("POST", "/keys", `{"name":"from a session"}`)
	require.Equal(t, 201, w.Code, "no usage limit, rate limit or expiry: a session has none to keep")
	assert.Equal(t, 403, serve("POST", "/keys", `{"scopes":["bots:write"]}`).Code, "scopes still bound a session")
}

// TestReenable: a key's owner may enable a key it disabled itself, or one
// another of its keys without the admin scope disabled; never one an
// admin or an operator disabled, nor one it disabled after them.
func TestReenable(t *testing.T) {
	ctx := context.Background()
	type step func(e *env, f *fixture, sibling string)
	asAdmin := func(e *env, f *fixture, _ string) {
		require.Equal(e.T, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, adminKey, `{"enabled":false}`).Status)
	}
	asAlice := func(e *env, f *fixture, _ string) {
		require.Equal(e.T, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":false}`).Status)
	}
	asSibling := func(e *env, f *fixture, sibling string) {
		require.Equal(e.T, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, sibling, `{"enabled":false}`).Status)
	}
	asOperator := func(e *env, f *fixture, _ string) {
		_, err := e.Keys.Disable(ctx, f.aliceCI)
		require.NoError(e.T, err)
	}
	for _, c := range []struct {
		name  string
		steps []step
		want  int
	}{
		{"disabled by an admin", []step{asAdmin}, 403},
		{"disabled by an operator", []step{asOperator}, 403},
		{"disabled by herself", []step{asAlice}, 200},
		{"disabled by another of her keys", []step{asSibling}, 200},
		{"herself, then an admin", []step{asAlice, asAdmin}, 403},
		{"herself, then an operator", []step{asAlice, asOperator}, 403},
		{"an admin, then herself", []step{asAdmin, asAlice}, 403},
		{"an operator, then herself", []step{asOperator, asAlice}, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			f := seed(e)
			sibling, _ := e.Create(apikey.NewKey{Owner: "alice", Name: "sibling", Scopes: []string{"bots:read"}})
			for _, s := range c.steps {
				s(e, f, sibling)
			}
			r := e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":true}`)
			require.Equal(t, c.want, r.Status, r.Body)
			k, err := e.Keys.Get(ctx, f.aliceCI)
			require.NoError(t, err)
			assert.Equal(t, c.want == 200, k.Enabled)
			if c.want == 403 {
				assert.Contains(t, r.Msg(t), "only an admin may enable it again")
				// An admin may.
				require.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, adminKey, `{"enabled":true}`).Status)
			}
		})
	}
	t.Run("the disabler shows", func(t *testing.T) {
		e := newEnv(t)
		f := seed(e)
		r := e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":false}`)
		var k keyBody
		r.JSON(t, &k)
		require.NotNil(t, k.DisabledBy)
		assert.Equal(t, f.aliceID, *k.DisabledBy)
		r = e.Do("PATCH", "/admin/keys/"+f.aliceCI, adminKey, `{"enabled":false}`)
		r.JSON(t, &k)
		require.NotNil(t, k.DisabledBy)
		assert.Equal(t, "static:admin", *k.DisabledBy, "an admin's disable takes over")
		r = e.Do("PATCH", "/admin/keys/"+f.aliceCI, adminKey, `{"enabled":true}`)
		r.JSON(t, &k)
		assert.Nil(t, k.DisabledBy)
	})
	t.Run("an operator disables it meanwhile", func(t *testing.T) {
		e := newEnv(t)
		f := seed(e)
		require.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":false}`).Status)
		// Between alice's look at the key and her write, an operator
		// disables it: her enable must not undo that.
		var once atomic.Bool
		hook := func(id string) {
			if id == f.aliceCI && once.CompareAndSwap(false, true) {
				_, err := e.Keys.Disable(ctx, f.aliceCI)
				require.NoError(t, err)
			}
		}
		e.Store.BeforeUpdate.Store(&hook)
		r := e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":true}`)
		assert.Equal(t, 409, r.Status, r.Body)
		assert.Contains(t, r.Msg(t), "disabled by someone else")
		k, err := e.Keys.Get(ctx, f.aliceCI)
		require.NoError(t, err)
		assert.False(t, k.Enabled)
	})
	t.Run("enabling an enabled key changes nothing", func(t *testing.T) {
		e := newEnv(t)
		f := seed(e)
		before, err := e.Keys.Get(ctx, f.aliceCI)
		require.NoError(t, err)
		assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"enabled":true}`).Status)
		after, err := e.Keys.Get(ctx, f.aliceCI)
		require.NoError(t, err)
		assert.Equal(t, before.UpdatedAt, after.UpdatedAt)
	})
}

// TestRotationGrace: without the admin scope a rotation's grace is at most
// WithMaxGrace's (24h by default); an admin's is not bounded.
func TestRotationGrace(t *testing.T) {
	run(t, []tcase{
		{name: "a year", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "alice", body: `{"grace":"8760h"}`,
			status: 403, msg: "grace 8760h is longer than the 24h a key without the admin scope may give"},
		{name: "a day and a second", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "alice", body: `{"grace":"24h0m1s"}`, status: 403},
		{name: "a day", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "alice", body: `{"grace":"24h"}`, status: 201},
		{name: "itself, a year", method: "POST", path: "/admin/keys/{alice}/rotate", as: "alice", body: `{"grace":"8760h"}`, status: 403},
		{name: "admin, a year", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", body: `{"grace":"8760h"}`, status: 201},
	})
	e := newEnv(t, admin.WithMaxGrace(time.Hour))
	f := seed(e)
	r := e.Do("POST", "/admin/keys/"+f.aliceCI+"/rotate", f.alice, `{"grace":"90m"}`)
	assert.Equal(t, 403, r.Status)
	assert.Contains(t, r.Msg(t), "longer than the 1h a key")
	assert.Panics(t, func() { admin.WithMaxGrace(-time.Second) })
}

// TestCreatedBy: a key made over the API names the key that made it, by a
// create or a rotation.
func TestCreatedBy(t *testing.T) {
	e := newEnv(t)
	f := seed(e)
	var s secretBody
	e.Do("POST", "/admin/keys", f.alice, `{"name":"made"}`).JSON(t, &s)
	require.NotNil(t, s.Key.CreatedBy)
	assert.Equal(t, f.aliceID, *s.Key.CreatedBy)
	e.Do("POST", "/admin/keys/"+f.aliceCI+"/rotate", f.alice, `{}`).JSON(t, &s)
	require.NotNil(t, s.Key.CreatedBy)
	assert.Equal(t, f.aliceID, *s.Key.CreatedBy, "the rotator, not the rotated key's maker")
	stored, err := e.Keys.Get(context.Background(), s.Key.ID)
	require.NoError(t, err)
	assert.Equal(t, f.aliceID, stored.CreatedBy)
	e.Do("POST", "/admin/keys", adminKey, `{"owner":"bob"}`).JSON(t, &s)
	require.NotNil(t, s.Key.CreatedBy)
	assert.Equal(t, "static:admin", *s.Key.CreatedBy)
	var k keyBody
	e.Do("GET", "/admin/keys/"+f.bobID, adminKey, "").JSON(t, &k)
	assert.Nil(t, k.CreatedBy, "made by an operator")
}

// TestQueryKeyCannotWrite: a key read from the URL may read through the
// API but not change anything, whichever middleware read it.
func TestQueryKeyCannotWrite(t *testing.T) {
	store, keys := newKeys(t)
	_, ci, err := keys.Create(context.Background(), apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	hosts := map[string]http.Handler{
		// The host's middleware, with the default sources (query included),
		// wraps the admin handler.
		"host middleware": keys.Middleware(apikey.WithSkip(admin.Public("/admin")), apikey.WithStripCredentials())(
			http.StripPrefix("/admin", admin.New(keys))),
		// The admin handler's own, told to read the query.
		"admin's own middleware": http.StripPrefix("/admin", admin.New(keys,
			admin.WithMiddlewareOptions(apikey.WithSources(apikey.FromQuery("x-api-key"), apikey.FromHeader("X-API-Key"))))),
	}
	for name, h := range hosts {
		h = watch(t, store, h)
		do := func(method, path, body string, header bool) *httptest.ResponseRecorder {
			if !header {
				path += "?x-api-key=" + adminKey
			}
			req := httptest.NewRequest(method, path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if header {
				req.Header.Set("X-API-Key", adminKey)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w
		}
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/admin/keys", `{"owner":"alice"}`},
			{"PATCH", "/admin/keys/" + ci.ID, `{"enabled":false}`},
			{"POST", "/admin/keys/" + ci.ID + "/rotate", `{}`},
			{"DELETE", "/admin/keys/" + ci.ID, ""},
		} {
			w := do(c.method, c.path, c.body, false)
			assert.Equal(t, 403, w.Code, "%s: %s %s: %s", name, c.method, c.path, w.Body.String())
			assert.Contains(t, w.Body.String(), "Send the API key in the X-API-Key or Authorization header, not in the URL", name)
		}
		assert.Equal(t, 200, do("GET", "/admin/keys", "", false).Code, "%s: reads stay allowed", name)
		assert.Equal(t, 200, do("GET", "/admin/keys/"+ci.ID, "", false).Code, name)
		assert.Equal(t, 200, do("PATCH", "/admin/keys/"+ci.ID, `{"name":"by header"}`, true).Code, name)
	}
	k, err := keys.Get(context.Background(), ci.ID)
	require.NoError(t, err)
	assert.True(t, k.Enabled)
}

// TestRotatedKeyExpiry: a rotated key's expiry ends its grace period. PATCH
// may bring it earlier, never later nor remove it, whoever asks: otherwise a
// key without the admin scope could give a retired (perhaps leaked) key a
// grace of years after a rotation WithMaxGrace held to a day.
func TestRotatedKeyExpiry(t *testing.T) {
	e := newEnv(t)
	f := seed(e)
	r := e.Do("POST", "/admin/keys/"+f.aliceCI+"/rotate", f.alice, `{"grace":"1h"}`)
	require.Equal(t, 201, r.Status, r.Body)
	old, err := e.Keys.Get(context.Background(), f.aliceCI)
	require.NoError(t, err)
	later := old.ExpiresAt.Add(time.Hour).Format(time.RFC3339)
	for _, as := range []string{f.alice, adminKey} {
		for _, body := range []string{`{"expires_at":"2099-01-01T00:00:00Z"}`, `{"expires_at":null}`, `{"expires_at":"` + later + `"}`} {
			r := e.Do("PATCH", "/admin/keys/"+f.aliceCI, as, body)
			assert.Equal(t, 409, r.Status, body)
			assert.Contains(t, r.Msg(t), "was rotated to", body)
		}
	}
	now, err := e.Keys.Get(context.Background(), f.aliceCI)
	require.NoError(t, err)
	assert.Equal(t, old.ExpiresAt, now.ExpiresAt, "the grace period is unchanged")

	earlier := old.ExpiresAt.Add(-30 * time.Minute).UTC().Format(time.RFC3339)
	r = e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"expires_at":"`+earlier+`"}`)
	assert.Equal(t, 200, r.Status, "ending the grace period early: %s", r.Body)
	r = e.Do("PATCH", "/admin/keys/"+f.aliceCI, f.alice, `{"name":"retired"}`)
	assert.Equal(t, 200, r.Status, "other fields may change: %s", r.Body)
}

// Two PATCHes by a key without the admin scope, each within its bounds on
// the key as it read it, must not add up to a key beyond them: the bounds
// hold for the key as stored. Here one moves the key's rate limit into a
// named limit, the other drops the named limits; run one after the other,
// the second is refused (the key would have no limit), but interleaved
// (both read the key before either writes) they left it with no rate
// limit at all, while the caller's is 10 a minute.
func TestConcurrentChangesStayWithinCallerBounds(t *testing.T) {
	e := newEnv(t)
	limit := apikey.RateLimit{Limit: 10, Window: time.Minute}
	caller, _ := e.Create(apikey.NewKey{Owner: "alice", Name: "caller", RateLimit: limit})
	_, other := e.Create(apikey.NewKey{Owner: "alice", Name: "other", RateLimit: limit})
	toNamed := `{"rate_limit":null,"rate_limits":[{"name":"x","limit":10,"window":"1m"}]}`
	noNamed := `{"rate_limits":[]}`

	var once atomic.Bool
	var inner response
	hook := func(id string) {
		if id == other && once.CompareAndSwap(false, true) {
			// The other PATCH runs whole while this one is between its
			// bounds check and its write.
			inner = e.Do("PATCH", "/admin/keys/"+other, caller, toNamed)
		}
	}
	e.Store.BeforeUpdate.Store(&hook)
	outer := e.Do("PATCH", "/admin/keys/"+other, caller, noNamed)
	e.Store.BeforeUpdate.Store(nil)
	require.Equal(t, 200, inner.Status, inner.Body)

	k, err := e.Keys.Get(context.Background(), other)
	require.NoError(t, err)
	limited := !k.RateLimit.IsZero() || len(k.RateLimits) > 0 || !e.Keys.DefaultRateLimit().IsZero()
	assert.True(t, limited, "the key was left with no rate limit (PATCH answered %d %s)", outer.Status, outer.Body)
	assert.Equal(t, 409, outer.Status, "the key changed since the PATCH read it: %s", outer.Body)

	// One after the other, the second is refused.
	assert.Equal(t, 403, e.Do("PATCH", "/admin/keys/"+other, caller, noNamed).Status)
}
