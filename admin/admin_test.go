package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture is the keys every endpoint test starts with.
type fixture struct {
	alice      string // plaintext: owner alice, scopes bots:read (alice's own way in)
	aliceID    string
	aliceCI    string // ID: owner alice, scopes bots:read
	alicePower string // ID: owner alice, scope bots:write, which alice's key lacks
	bob        string // plaintext: owner bob, scopes bots:read
	bobID      string
}

func seed(e *env) *fixture {
	f := &fixture{}
	f.alice, f.aliceID = e.Create(apikey.NewKey{Owner: "alice", Name: "alice-admin", Scopes: []string{"bots:read"}})
	_, f.aliceCI = e.Create(apikey.NewKey{Owner: "alice", Name: "alice-ci", Scopes: []string{"bots:read"}})
	_, f.alicePower = e.Create(apikey.NewKey{Owner: "alice", Name: "alice-power", Scopes: []string{"bots:write"}})
	f.bob, f.bobID = e.Create(apikey.NewKey{Owner: "bob", Name: "bob-ci", Scopes: []string{"bots:read"}})
	return f
}

// tcase is one request against a fresh server with a fresh fixture.
type tcase struct {
	name   string
	method string
	path   string // may name {alice}, {aliceCI}, {power}, {bob}
	as     string // admin, alice, bob, bad (a wrong key) or "" (no key)
	body   string
	ctype  string // Content-Type; "" for JSON when there is a body, "-" for none
	status int
	msg    string // a part of the error message, for error statuses
	setup  func(e *env, f *fixture)
	check  func(t *testing.T, e *env, f *fixture, r response)
}

func run(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := seed(e)
			if tc.setup != nil {
				tc.setup(e, f)
			}
			path := strings.NewReplacer("{alice}", f.aliceID, "{aliceCI}", f.aliceCI,
				"{power}", f.alicePower, "{bob}", f.bobID).Replace(tc.path)
			key := map[string]string{"admin": adminKey, "alice": f.alice, "bob": f.bob,
				"bad": "ak_000000000000000000000000000000000000", "": ""}[tc.as]
			var ct []string
			if tc.ctype != "" {
				ct = []string{tc.ctype}
			}
			r := e.Do(tc.method, path, key, tc.body, ct...)
			require.Equal(t, tc.status, r.Status, "body: %s", r.Body)
			if tc.status >= 400 {
				assert.Contains(t, r.Msg(t), tc.msg)
				assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
			}
			assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
			assert.Equal(t, "nosniff", r.Header.Get("X-Content-Type-Options"))
			if tc.check != nil {
				tc.check(t, e, f, r)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	run(t, []tcase{
		{name: "no key", method: "GET", path: "/admin/keys", status: 401, msg: "Missing API key",
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.Contains(t, r.Header.Get("WWW-Authenticate"), `realm="admin"`)
			}},
		{name: "wrong key", method: "GET", path: "/admin/keys", as: "bad", status: 401, msg: "Invalid API key"},
		{name: "no key, unknown path", method: "GET", path: "/admin/nothing", status: 401, msg: "Missing API key"},
		{name: "no key, create", method: "POST", path: "/admin/keys", body: `{"name":"x"}`, status: 401},
		{name: "no key, delete", method: "DELETE", path: "/admin/keys/{aliceCI}", status: 401},
		{name: "query key is not read", method: "GET", path: "/admin/keys?x-api-key=" + adminKey, status: 401, msg: "Missing API key"},
		{name: "disabled key", method: "GET", path: "/admin/keys", as: "alice", status: 401, msg: "Invalid API key",
			setup: func(e *env, f *fixture) {
				_, err := e.Keys.Disable(context.Background(), f.aliceID)
				require.NoError(e.T, err)
			}},
		{name: "unknown path", method: "GET", path: "/admin/nothing", as: "admin", status: 404, msg: "Not found"},
		{name: "keys subpath", method: "GET", path: "/admin/keys/{aliceCI}/other", as: "admin", status: 404},
		{name: "wrong method", method: "PUT", path: "/admin/keys", as: "admin", status: 405, msg: "Method not allowed",
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.Equal(t, "GET, HEAD, POST", r.Header.Get("Allow"))
			}},
		{name: "wrong method on a key", method: "POST", path: "/admin/keys/{aliceCI}", as: "admin", body: `{}`, status: 405},
		{name: "GET rotate", method: "GET", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 405},
	})
}

func TestGet(t *testing.T) {
	run(t, []tcase{
		{name: "admin gets any key", method: "GET", path: "/admin/keys/{bob}", as: "admin", status: 200,
			check: func(t *testing.T, _ *env, f *fixture, r response) {
				var k keyBody
				r.JSON(t, &k)
				assert.Equal(t, f.bobID, k.ID)
				assert.Equal(t, "bob", k.Owner)
				assert.Equal(t, "bob-ci", k.Name)
				assert.Equal(t, []string{"bots:read"}, k.Scopes)
				assert.Equal(t, "enabled", k.State)
				assert.True(t, strings.HasPrefix(k.Start, "ak_"))
				assert.Nil(t, k.ExpiresAt)
				assert.Nil(t, k.RotatedTo)
				assert.Equal(t, map[string]string{}, k.Metadata)
				assert.Equal(t, []string{}, k.AllowedIPs)
			}},
		{name: "owner gets own key", method: "GET", path: "/admin/keys/{aliceCI}", as: "alice", status: 200},
		{name: "owner gets the key it uses", method: "GET", path: "/admin/keys/{alice}", as: "alice", status: 200},
		{name: "other owner's key is not found", method: "GET", path: "/admin/keys/{bob}", as: "alice", status: 404, msg: "Key not found"},
		{name: "own key with a scope the caller lacks is not found", method: "GET", path: "/admin/keys/{power}", as: "alice", status: 404, msg: "Key not found"},
		{name: "unknown id", method: "GET", path: "/admin/keys/01JZZZZZZZZZZZZZZZZZZZZZZZ", as: "alice", status: 404, msg: "Key not found"},
		{name: "id too long", method: "GET", path: "/admin/keys/" + strings.Repeat("A", 100), as: "admin", status: 404},
		{name: "store down", method: "GET", path: "/admin/keys/{aliceCI}", as: "admin", status: 503, msg: "Service unavailable",
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
		{name: "HEAD", method: "HEAD", path: "/admin/keys/{aliceCI}", as: "admin", status: 200},
	})
}

// TestNotFoundIsIndistinguishable: another owner's key answers exactly as
// a key that does not exist.
func TestNotFoundIsIndistinguishable(t *testing.T) {
	e := newEnv(t)
	f := seed(e)
	for _, m := range []struct{ method, suffix, body string }{
		{"GET", "", ""}, {"PATCH", "", `{"name":"x"}`}, {"DELETE", "", ""}, {"POST", "/rotate", `{}`},
	} {
		other := e.Do(m.method, "/admin/keys/"+f.bobID+m.suffix, f.alice, m.body)
		missing := e.Do(m.method, "/admin/keys/01JZZZZZZZZZZZZZZZZZZZZZZZ"+m.suffix, f.alice, m.body)
		assert.Equal(t, http.StatusNotFound, other.Status, m.method)
		assert.Equal(t, missing.Status, other.Status, m.method)
		assert.Equal(t, missing.Body, other.Body, m.method)
	}
	// And bob's key is untouched.
	k, err := e.Keys.Get(context.Background(), f.bobID)
	require.NoError(t, err)
	assert.Equal(t, "bob-ci", k.Name)
	assert.True(t, k.Enabled)
}

func TestCreate(t *testing.T) {
	created := func(check func(t *testing.T, s secretBody)) func(*testing.T, *env, *fixture, response) {
		return func(t *testing.T, e *env, _ *fixture, r response) {
			var s secretBody
			r.JSON(t, &s)
			require.NotEmpty(t, s.Plaintext)
			assert.Equal(t, "keys/"+s.Key.ID, r.Header.Get("Location"))
			assert.True(t, strings.HasPrefix(s.Plaintext, s.Key.Start))
			// The key works, and is the one described.
			p, err := e.Keys.Verify(context.Background(), s.Plaintext)
			if len(s.Key.AllowedIPs) == 0 {
				require.NoError(t, err)
				assert.Equal(t, s.Key.ID, p.KeyID)
			}
			if check != nil {
				check(t, s)
			}
		}
	}
	soon := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	run(t, []tcase{
		{name: "admin, every field", method: "POST", path: "/admin/keys", as: "admin", status: 201,
			body: `{"name":"partner","owner":"carol","description":"their back end","scopes":["orders:read","orders:read","admin"],
				"metadata":{"team":"sales"},"expires_at":"` + soon.Format(time.RFC3339) + `","rate_limit":{"limit":100,"window":"1m"},
				"max_uses":5}`,
			check: created(func(t *testing.T, s secretBody) {
				assert.Equal(t, "carol", s.Key.Owner)
				assert.Equal(t, "partner", s.Key.Name)
				assert.Equal(t, "their back end", s.Key.Description)
				assert.Equal(t, []string{"orders:read", "admin"}, s.Key.Scopes)
				assert.Equal(t, map[string]string{"team": "sales"}, s.Key.Metadata)
				require.NotNil(t, s.Key.ExpiresAt)
				assert.Equal(t, soon.Format(time.RFC3339), *s.Key.ExpiresAt)
				require.NotNil(t, s.Key.RateLimit)
				assert.Equal(t, 100, s.Key.RateLimit.Limit)
				assert.Equal(t, "1m0s", s.Key.RateLimit.Window)
				require.NotNil(t, s.Key.RemainingUses)
				assert.Equal(t, int64(5), *s.Key.RemainingUses)
				assert.Equal(t, "enabled", s.Key.State)
			})},
		{name: "allowed IPs", method: "POST", path: "/admin/keys", as: "admin", status: 201,
			body: `{"name":"office","allowed_ips":["10.1.2.3/8","192.0.2.7","2001:db8::/32"]}`,
			check: created(func(t *testing.T, s secretBody) {
				assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"}, s.Key.AllowedIPs)
			})},
		{name: "ttl", method: "POST", path: "/admin/keys", as: "admin", status: 201, body: `{"name":"short","ttl":"720h"}`,
			check: created(func(t *testing.T, s secretBody) {
				require.NotNil(t, s.Key.ExpiresAt)
				exp, err := time.Parse(time.RFC3339, *s.Key.ExpiresAt)
				require.NoError(t, err)
				assert.WithinDuration(t, time.Now().Add(720*time.Hour), exp, time.Minute)
			})},
		{name: "owner defaults to the caller", method: "POST", path: "/admin/keys", as: "alice", status: 201,
			body:  `{"name":"mine","scopes":["bots:read"]}`,
			check: created(func(t *testing.T, s secretBody) { assert.Equal(t, "alice", s.Key.Owner) })},
		{name: "owner may name itself", method: "POST", path: "/admin/keys", as: "alice", status: 201, body: `{"owner":"alice"}`},
		{name: "charset utf-8", method: "POST", path: "/admin/keys", as: "admin", status: 201, body: `{}`, ctype: "application/json; charset=UTF-8"},
		{name: "for another owner", method: "POST", path: "/admin/keys", as: "alice", status: 403, body: `{"owner":"bob"}`, msg: "another owner"},
		{name: "with a scope the caller lacks", method: "POST", path: "/admin/keys", as: "alice", status: 403,
			body: `{"scopes":["bots:read","admin"]}`, msg: "scope you lack"},
		{name: "form post", method: "POST", path: "/admin/keys", as: "admin", status: 415,
			body: `name=x&owner=y`, ctype: "application/x-www-form-urlencoded", msg: "Content-Type must be application/json"},
		{name: "multipart form", method: "POST", path: "/admin/keys", as: "admin", status: 415,
			body: "--b\r\n\r\n--b--", ctype: "multipart/form-data; boundary=b"},
		{name: "text/plain", method: "POST", path: "/admin/keys", as: "admin", status: 415, body: `{}`, ctype: "text/plain"},
		{name: "no Content-Type", method: "POST", path: "/admin/keys", as: "admin", status: 415, body: `{}`, ctype: "-"},
		{name: "other charset", method: "POST", path: "/admin/keys", as: "admin", status: 415, body: `{}`, ctype: "application/json; charset=latin1"},
		{name: "oversized body", method: "POST", path: "/admin/keys", as: "admin", status: 413,
			body: `{"description":"` + strings.Repeat("x", 70<<10) + `"}`, msg: "larger than 65536 bytes"},
		{name: "unknown field", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"name":"x","colour":"red"}`, msg: `unknown field "colour"`},
		{name: "unknown nested field", method: "POST", path: "/admin/keys", as: "admin", status: 400,
			body: `{"rate_limit":{"limit":1,"window":"1m","burst":2}}`, msg: `unknown field "burst"`},
		{name: "bad JSON", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"name":`, msg: "invalid JSON"},
		{name: "broken JSON", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"name" "x"}`, msg: "invalid JSON at byte"},
		{name: "two objects", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{}{}`, msg: "data after the object"},
		{name: "array", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `[]`, msg: "must be a JSON object"},
		{name: "empty body", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: ` `, msg: "body is empty"},
		{name: "wrong type", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"name":5}`, msg: "name must be a string, not number"},
		{name: "scopes not a list", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"scopes":"a"}`, msg: "scopes must be an array of strings"},
		{name: "bad scope", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"scopes":["bots read"]}`, msg: `scope "bots read"`},
		{name: "bad time", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"expires_at":"tomorrow"}`, msg: "expires_at: \"tomorrow\" is not an RFC 3339 time"},
		{name: "past time", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"expires_at":"2001-01-01T00:00:00Z"}`, msg: "not in the future"},
		{name: "bad ttl", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"ttl":"a month"}`, msg: `ttl: "a month" is not a duration`},
		{name: "negative ttl", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"ttl":"-1h"}`, msg: "ttl must be positive"},
		{name: "ttl and expires_at", method: "POST", path: "/admin/keys", as: "admin", status: 400,
			body: `{"ttl":"1h","expires_at":"2099-01-01T00:00:00Z"}`, msg: "not both"},
		{name: "bad window", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"rate_limit":{"limit":5,"window":"soon"}}`, msg: "rate_limit.window"},
		{name: "half a rate limit", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"rate_limit":{"limit":5}}`, msg: "rate_limit.window"},
		{name: "zero limit", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"rate_limit":{"limit":0,"window":"1m"}}`, msg: "positive limit"},
		{name: "bad IP", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"allowed_ips":["10.0.0.0/33"]}`, msg: "allowed_ips"},
		{name: "negative max_uses", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"max_uses":-1}`, msg: "max_uses must not be negative"},
		{name: "control character", method: "POST", path: "/admin/keys", as: "admin", status: 400, body: `{"name":"a\u0007b"}`, msg: "name contains a control character"},
		{name: "store down", method: "POST", path: "/admin/keys", as: "admin", status: 503, body: `{"name":"x"}`, msg: "Service unavailable",
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}

func TestPatch(t *testing.T) {
	patched := func(check func(t *testing.T, k keyBody, stored apikey.Key)) func(*testing.T, *env, *fixture, response) {
		return func(t *testing.T, e *env, f *fixture, r response) {
			var k keyBody
			r.JSON(t, &k)
			stored, err := e.Keys.Get(context.Background(), k.ID)
			require.NoError(t, err)
			check(t, k, stored)
		}
	}
	setLimits := func(e *env, f *fixture) {
		_, err := e.Keys.Update(context.Background(), f.aliceCI, apikey.SetExpiry(time.Now().Add(time.Hour)),
			apikey.SetRateLimit(apikey.RateLimit{Limit: 5, Window: time.Minute}), apikey.SetRemainingUses(3),
			apikey.SetMetadata(map[string]string{"a": "b"}), apikey.SetAllowedIPs(netipPrefix("10.0.0.0/8")))
		require.NoError(e.T, err)
	}
	run(t, []tcase{
		{name: "name and description", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "alice", status: 200,
			body: `{"name":"renamed","description":"line one\nline two"}`,
			check: patched(func(t *testing.T, k keyBody, s apikey.Key) {
				assert.Equal(t, "renamed", k.Name)
				assert.Equal(t, "renamed", s.Name)
				assert.Equal(t, "line one\nline two", s.Description)
				assert.Equal(t, []string{"bots:read"}, s.Scopes, "scopes untouched")
			})},
		{name: "disable", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{"enabled":false}`,
			check: patched(func(t *testing.T, k keyBody, s apikey.Key) {
				assert.False(t, s.Enabled)
				assert.Equal(t, "disabled", k.State)
			})},
		{name: "enable", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{"enabled":true}`,
			setup: func(e *env, f *fixture) {
				_, err := e.Keys.Disable(context.Background(), f.aliceCI)
				require.NoError(e.T, err)
			},
			check: patched(func(t *testing.T, k keyBody, s apikey.Key) { assert.True(t, s.Enabled) })},
		{name: "set everything", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200,
			body: `{"scopes":["a","b"],"metadata":{"x":"y"},"expires_at":"2099-01-02T03:04:05Z",
				"rate_limit":{"limit":10,"window":"30s"},"allowed_ips":["192.0.2.1"],"remaining_uses":7}`,
			check: patched(func(t *testing.T, k keyBody, s apikey.Key) {
				assert.Equal(t, []string{"a", "b"}, s.Scopes)
				assert.Equal(t, map[string]string{"x": "y"}, s.Metadata)
				assert.Equal(t, time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC), s.ExpiresAt)
				assert.Equal(t, apikey.RateLimit{Limit: 10, Window: 30 * time.Second}, s.RateLimit)
				assert.Equal(t, []string{"192.0.2.1/32"}, k.AllowedIPs)
				require.NotNil(t, s.RemainingUses)
				assert.Equal(t, int64(7), *s.RemainingUses)
			})},
		{name: "nulls clear", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, setup: setLimits,
			body: `{"expires_at":null,"rate_limit":null,"remaining_uses":null,"metadata":null,"allowed_ips":null}`,
			check: patched(func(t *testing.T, k keyBody, s apikey.Key) {
				assert.True(t, s.ExpiresAt.IsZero())
				assert.True(t, s.RateLimit.IsZero())
				assert.Nil(t, s.RemainingUses)
				assert.Empty(t, s.Metadata)
				assert.Empty(t, s.AllowedIPs)
				assert.Nil(t, k.ExpiresAt)
				assert.Nil(t, k.RateLimit)
				assert.Nil(t, k.RemainingUses)
			})},
		{name: "fields left out stay", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, setup: setLimits,
			body: `{"name":"n"}`,
			check: patched(func(t *testing.T, _ keyBody, s apikey.Key) {
				assert.False(t, s.ExpiresAt.IsZero())
				assert.Equal(t, 5, s.RateLimit.Limit)
				require.NotNil(t, s.RemainingUses)
				assert.Equal(t, map[string]string{"a": "b"}, s.Metadata)
				assert.Len(t, s.AllowedIPs, 1)
			})},
		{name: "expire now", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{"expires_at":"2001-01-01T00:00:00Z"}`,
			check: patched(func(t *testing.T, k keyBody, _ apikey.Key) { assert.Equal(t, "expired", k.State) })},
		{name: "zero uses left", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{"remaining_uses":0}`,
			check: patched(func(t *testing.T, k keyBody, _ apikey.Key) { assert.Equal(t, "exhausted", k.State) })},
		{name: "empty patch changes nothing", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{}`,
			check: patched(func(t *testing.T, _ keyBody, s apikey.Key) { assert.Equal(t, s.CreatedAt, s.UpdatedAt) })},
		{name: "other owner's key", method: "PATCH", path: "/admin/keys/{bob}", as: "alice", status: 404, body: `{"enabled":false}`, msg: "Key not found"},
		{name: "own key with a scope the caller lacks", method: "PATCH", path: "/admin/keys/{power}", as: "alice", status: 404, body: `{"enabled":false}`},
		{name: "granting a scope the caller lacks", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "alice", status: 403,
			body: `{"scopes":["bots:read","bots:write"]}`, msg: "scope you lack"},
		{name: "owner cannot change", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"owner":"bob"}`, msg: `unknown field "owner"`},
		{name: "enabled null", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"enabled":null}`, msg: "enabled must be true or false"},
		{name: "enabled string", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"enabled":"no"}`, msg: "enabled must be true or false"},
		{name: "negative uses", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"remaining_uses":-2}`, msg: "remaining_uses"},
		{name: "bad scope", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"scopes":["a,b"]}`, msg: "scope"},
		{name: "bad time", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"expires_at":"2099-01-01"}`, msg: "RFC 3339"},
		{name: "bad name", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400, body: `{"name":"` + strings.Repeat("n", 300) + `"}`, msg: "name is longer"},
		{name: "form", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 415, body: `enabled=false`, ctype: "application/x-www-form-urlencoded"},
		{name: "unknown id", method: "PATCH", path: "/admin/keys/nope", as: "admin", status: 404, body: `{"name":"x"}`},
		{name: "store down", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 503, body: `{"name":"x"}`,
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}

func TestRotate(t *testing.T) {
	rotated := func(grace time.Duration) func(*testing.T, *env, *fixture, response) {
		return func(t *testing.T, e *env, f *fixture, r response) {
			var s secretBody
			r.JSON(t, &s)
			assert.Equal(t, "../"+s.Key.ID, r.Header.Get("Location"))
			assert.Equal(t, "alice-ci", s.Key.Name)
			p, err := e.Keys.Verify(context.Background(), s.Plaintext)
			require.NoError(t, err)
			assert.Equal(t, "alice", p.Owner)
			old, err := e.Keys.Get(context.Background(), f.aliceCI)
			require.NoError(t, err)
			assert.Equal(t, s.Key.ID, old.RotatedTo)
			assert.WithinDuration(t, time.Now().Add(grace), old.ExpiresAt, time.Minute)
		}
	}
	expire := func(e *env, f *fixture) {
		_, err := e.Keys.Update(context.Background(), f.aliceCI, apikey.SetExpiry(time.Now().Add(-time.Second)))
		require.NoError(e.T, err)
	}
	run(t, []tcase{
		{name: "with grace", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "alice", status: 201, body: `{"grace":"24h"}`, check: rotated(24 * time.Hour)},
		{name: "empty body", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 201, ctype: "application/json", check: rotated(0)},
		{name: "no body needs JSON type still", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 415},
		{name: "form", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 415, body: "grace=1h", ctype: "application/x-www-form-urlencoded"},
		{name: "twice", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 409, body: `{}`, msg: "already rotated",
			setup: func(e *env, f *fixture) {
				_, _, err := e.Keys.Rotate(context.Background(), f.aliceCI, time.Hour)
				require.NoError(e.T, err)
			}},
		{name: "expired", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 409, body: `{}`, msg: "expired", setup: expire},
		{name: "bad grace", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 400, body: `{"grace":"1 day"}`, msg: `grace: "1 day"`},
		{name: "negative grace", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 400, body: `{"grace":"-1h"}`, msg: "negative"},
		{name: "usage limit with grace", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 400, body: `{"grace":"1h"}`, msg: "usage limit",
			setup: func(e *env, f *fixture) {
				_, err := e.Keys.Update(context.Background(), f.aliceCI, apikey.SetRemainingUses(3))
				require.NoError(e.T, err)
			}},
		{name: "unknown field", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 400, body: `{"grace_period":"1h"}`, msg: "unknown field"},
		{name: "other owner's key", method: "POST", path: "/admin/keys/{bob}/rotate", as: "alice", status: 404, body: `{}`},
		{name: "more powerful own key", method: "POST", path: "/admin/keys/{power}/rotate", as: "alice", status: 404, body: `{}`},
		{name: "unknown id", method: "POST", path: "/admin/keys/nope/rotate", as: "admin", status: 404, body: `{}`},
		{name: "store down", method: "POST", path: "/admin/keys/{aliceCI}/rotate", as: "admin", status: 503, body: `{}`,
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}

func TestRevoke(t *testing.T) {
	gone := func(t *testing.T, e *env, f *fixture, _ response) {
		_, err := e.Keys.Get(context.Background(), f.aliceCI)
		assert.ErrorIs(t, err, apikey.ErrNotFound)
	}
	run(t, []tcase{
		{name: "owner", method: "DELETE", path: "/admin/keys/{aliceCI}", as: "alice", status: 204, check: gone},
		{name: "admin", method: "DELETE", path: "/admin/keys/{aliceCI}", as: "admin", status: 204, check: gone},
		{name: "other owner's key", method: "DELETE", path: "/admin/keys/{bob}", as: "alice", status: 404, msg: "Key not found"},
		{name: "more powerful own key", method: "DELETE", path: "/admin/keys/{power}", as: "alice", status: 404},
		{name: "twice", method: "DELETE", path: "/admin/keys/{aliceCI}", as: "admin", status: 404,
			setup: func(e *env, f *fixture) { require.NoError(e.T, e.Keys.Revoke(context.Background(), f.aliceCI)) }},
		{name: "store down", method: "DELETE", path: "/admin/keys/{aliceCI}", as: "admin", status: 503,
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}

func TestList(t *testing.T) {
	ids := func(t *testing.T, r response) []string {
		var l listBody
		r.JSON(t, &l)
		var out []string
		for _, k := range l.Keys {
			out = append(out, k.Name)
		}
		return out
	}
	run(t, []tcase{
		{name: "admin sees all", method: "GET", path: "/admin/keys", as: "admin", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.Equal(t, []string{"alice-admin", "alice-ci", "alice-power", "bob-ci"}, ids(t, r))
			}},
		{name: "admin filters by owner", method: "GET", path: "/admin/keys?owner=bob", as: "admin", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) { assert.Equal(t, []string{"bob-ci"}, ids(t, r)) }},
		{name: "owner sees own keys it could hold", method: "GET", path: "/admin/keys", as: "alice", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.Equal(t, []string{"alice-admin", "alice-ci"}, ids(t, r))
			}},
		{name: "owner asking for another owner gets nothing", method: "GET", path: "/admin/keys?owner=bob", as: "alice", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.JSONEq(t, `{"keys":[],"next":""}`, r.Body)
			}},
		{name: "state", method: "GET", path: "/admin/keys?state=disabled", as: "admin", status: 200,
			setup: func(e *env, f *fixture) {
				_, err := e.Keys.Disable(context.Background(), f.bobID)
				require.NoError(e.T, err)
			},
			check: func(t *testing.T, _ *env, _ *fixture, r response) { assert.Equal(t, []string{"bob-ci"}, ids(t, r)) }},
		{name: "limit", method: "GET", path: "/admin/keys?limit=3", as: "admin", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				var l listBody
				r.JSON(t, &l)
				assert.Len(t, l.Keys, 3)
				assert.Equal(t, l.Keys[2].ID, l.Next)
			}},
		{name: "after", method: "GET", path: "/admin/keys?after={aliceCI}", as: "admin", status: 200,
			check: func(t *testing.T, _ *env, _ *fixture, r response) {
				assert.Equal(t, []string{"alice-power", "bob-ci"}, ids(t, r))
			}},
		{name: "limit zero", method: "GET", path: "/admin/keys?limit=0", as: "admin", status: 400, msg: "limit must be a number from 1 to 1000"},
		{name: "limit too big", method: "GET", path: "/admin/keys?limit=1001", as: "admin", status: 400, msg: "limit"},
		{name: "limit not a number", method: "GET", path: "/admin/keys?limit=ten", as: "admin", status: 400, msg: "limit"},
		{name: "bad state", method: "GET", path: "/admin/keys?state=revoked", as: "admin", status: 400, msg: "state must be"},
		{name: "unknown parameter", method: "GET", path: "/admin/keys?stat=enabled", as: "admin", status: 400, msg: `unknown query parameter "stat"`},
		{name: "bad cursor", method: "GET", path: "/admin/keys?after=" + strings.Repeat("x", 65), as: "admin", status: 400, msg: "cursor"},
		{name: "store down", method: "GET", path: "/admin/keys", as: "admin", status: 503, msg: "Service unavailable",
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}
