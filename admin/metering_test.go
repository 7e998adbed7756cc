package admin_test

import (
	"context"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// Named limits and refilling credits are set on create and by PATCH, and
// shown with what the key has spent.
func TestMeteringFields(t *testing.T) {
	e := newEnv(t)
	r := e.Do("POST", "/admin/keys", adminKey, `{"owner":"alice","name":"metered",
		"rate_limits":[{"name":"burst","limit":10,"window":"1s"},{"name":"daily","limit":10000,"window":"1d"}],
		"refill":{"amount":100,"interval":"monthly","day":15}}`)
	require.Equal(t, 201, r.Status, r.Body)
	var made struct {
		Plaintext string      `json:"plaintext"`
		Key       keyjson.Key `json:"key"`
	}
	r.JSON(t, &made)
	k := made.Key
	assert.Equal(t, []keyjson.RateLimit{{Name: "burst", Limit: 10, Window: "1s"}, {Name: "daily", Limit: 10000, Window: "24h0m0s"}}, k.RateLimits)
	assert.Equal(t, &keyjson.Refill{Amount: 100, Interval: "monthly", Day: 15}, k.Refill)
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(100), *k.RemainingUses, "a refill without max_uses starts with its amount")
	require.NotNil(t, k.RefilledAt)
	assert.Equal(t, int64(0), k.UsesSpent)

	require.Equal(t, 200, e.Do("GET", "/", made.Plaintext, "").Status)
	r = e.Do("GET", "/admin/keys/"+k.ID, adminKey, "")
	var got keyjson.Key
	r.JSON(t, &got)
	assert.Equal(t, int64(1), got.UsesSpent)
	assert.Equal(t, int64(99), *got.RemainingUses)

	r = e.Do("PATCH", "/admin/keys/"+k.ID, adminKey, `{"rate_limits":[{"name":"minute","limit":5,"window":"1m"}],"refill":{"amount":20,"interval":"daily","roll_over":true}}`)
	require.Equal(t, 200, r.Status, r.Body)
	got = keyjson.Key{}
	r.JSON(t, &got)
	assert.Equal(t, []keyjson.RateLimit{{Name: "minute", Limit: 5, Window: "1m0s"}}, got.RateLimits)
	assert.Equal(t, &keyjson.Refill{Amount: 20, Interval: "daily", RollOver: true}, got.Refill)

	r = e.Do("PATCH", "/admin/keys/"+k.ID, adminKey, `{"rate_limits":[],"refill":null}`)
	require.Equal(t, 200, r.Status, r.Body)
	got = keyjson.Key{}
	r.JSON(t, &got)
	assert.Equal(t, []keyjson.RateLimit{}, got.RateLimits)
	assert.Nil(t, got.Refill)
	assert.NotNil(t, got.RemainingUses, "no refill still leaves the uses")

	r = e.Do("PATCH", "/admin/keys/"+k.ID, adminKey, `{"remaining_uses":null}`)
	require.Equal(t, 200, r.Status, r.Body)
	got = keyjson.Key{}
	r.JSON(t, &got)
	assert.Nil(t, got.RemainingUses)
}

// Bad limits and refills are 400s naming the field.
func TestMeteringFieldsRefused(t *testing.T) {
	e := newEnv(t)
	for body, want := range map[string]string{
		`{"owner":"a","rate_limits":[{"name":"x","limit":0,"window":"1s"}]}`:                                      "rate_limits[0] needs a positive limit",
		`{"owner":"a","rate_limits":[{"name":"x","limit":1,"window":"soon"}]}`:                                    "rate_limits[0].window",
		`{"owner":"a","rate_limits":[{"name":"x","limit":1,"window":"1s"},{"name":"x","limit":2,"window":"1m"}]}`: "x",
		`{"owner":"a","rate_limits":[{"limit":1,"window":"1s"}]}`:                                                 "name",
		`{"owner":"a","refill":{"amount":1,"interval":"hourly"}}`:                                                 "hourly",
		`{"owner":"a","refill":{"amount":0,"interval":"daily"}}`:                                                  "mount",
		`{"owner":"a","refill":{"amount":1,"interval":"monthly","day":32}}`:                                       "ay",
		`{"owner":"a","refill":{"amount":9007199254740992,"interval":"daily"}}`:                                   "Refill.Amount must be at most 9007199254740991",
		`{"owner":"a","max_uses":9007199254740992}`:                                                               "MaxUses above 9007199254740991",
	} {
		r := e.Do("POST", "/admin/keys", adminKey, body)
		assert.Equal(t, 400, r.Status, body)
		assert.Contains(t, r.Msg(t), want, body)
	}
	// The most a JavaScript reader keeps exactly is accepted, and read
	// back as it was sent.
	r := e.Do("POST", "/admin/keys", adminKey, `{"owner":"a","max_uses":9007199254740991}`)
	require.Equal(t, 201, r.Status, r.Body)
	assert.Contains(t, r.Body, `"remaining_uses":9007199254740991`)
	var created struct {
		Key struct{ ID string } `json:"key"`
	}
	r.JSON(t, &created)
	r = e.Do("PATCH", "/admin/keys/"+created.Key.ID, adminKey, `{"remaining_uses":9007199254740992}`)
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.Msg(t), "remaining uses above 9007199254740991")
	r = e.Do("PUT", "/admin/owners/a", adminKey, `{"remaining_uses":9007199254740992}`)
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.Msg(t), "OwnerPolicy.RemainingUses above 9007199254740991")
}

// A key without the admin scope may give a key it makes no looser limits
// and no bigger refill than its own.
func TestMeteringBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain, _, err := e.Keys.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"},
		RateLimits: []apikey.RateLimit{{Name: "burst", Limit: 10, Window: time.Second}, {Name: "daily", Limit: 1000, Window: 24 * time.Hour}},
		Refill:     &apikey.Refill{Amount: 100, Interval: apikey.RefillDaily}})
	require.NoError(t, err)
	for _, tt := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"rate_limits":[{"name":"b","limit":5,"window":"1s"},{"name":"d","limit":500,"window":"1d"}],"refill":{"amount":50,"interval":"daily"}}`, 201, ""},
		{`{"rate_limits":[{"name":"b","limit":5,"window":"1s"}],"refill":{"amount":50,"interval":"daily"}}`, 403, "1000 per 24h0m0s"},
		{`{"rate_limit":{"limit":1,"window":"2m"},"refill":{"amount":50,"interval":"daily"}}`, 201, ""},
		{`{"rate_limits":[{"name":"b","limit":20,"window":"1s"},{"name":"d","limit":500,"window":"1d"}],"refill":{"amount":50,"interval":"daily"}}`, 403, "10 per 1s"},
		{`{"rate_limit":{"limit":1,"window":"2m"},"max_uses":5,"refill":{"amount":500,"interval":"daily"}}`, 403, "more than the 100"},
		{`{"rate_limit":{"limit":1,"window":"2m"},"refill":{"amount":50,"interval":"monthly","day":1}}`, 403, "refill daily"},
		{`{"rate_limit":{"limit":1,"window":"2m"},"refill":{"amount":50,"interval":"daily","roll_over":true}}`, 403, "roll_over"},
		{`{"rate_limit":{"limit":1,"window":"2m"}}`, 403, "usage limit"},
	} {
		r := e.Do("POST", "/admin/keys", plain, tt.body)
		require.Equal(t, tt.status, r.Status, "%s: %s", tt.body, r.Body)
		if tt.msg != "" {
			assert.Contains(t, r.Msg(t), tt.msg, tt.body)
		}
	}

	// A key whose uses never refill may not give a refill.
	once, _, err := e.Keys.Create(ctx, apikey.NewKey{Owner: "bob", MaxUses: 50})
	require.NoError(t, err)
	r := e.Do("POST", "/admin/keys", once, `{"max_uses":5,"refill":{"amount":5,"interval":"daily"}}`)
	require.Equal(t, 403, r.Status, r.Body)
	assert.Contains(t, r.Msg(t), "never refill")
}

// Owner policies: an admin sets, reads, lists and removes them; an owner
// reads its own and nothing else; a create beyond max_keys is a 409.
func TestOwnerPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, _, err := e.Keys.Create(ctx, apikey.NewKey{Owner: "alice/team", Name: "one"})
	require.NoError(t, err)
	bob, _, err := e.Keys.Create(ctx, apikey.NewKey{Owner: "bob"})
	require.NoError(t, err)
	path := "/admin/owners/alice%2Fteam"

	r := e.Do("PUT", path, adminKey, `{"rate_limits":[{"name":"pooled","limit":100,"window":"1s"}],
		"refill":{"amount":1000,"interval":"daily"},"max_keys":2}`)
	require.Equal(t, 200, r.Status, r.Body)
	var o keyjson.Owner
	r.JSON(t, &o)
	assert.Equal(t, "alice/team", o.Owner)
	assert.Equal(t, []keyjson.RateLimit{{Name: "pooled", Limit: 100, Window: "1s"}}, o.RateLimits)
	require.NotNil(t, o.RemainingUses)
	assert.Equal(t, int64(1000), *o.RemainingUses)
	assert.Equal(t, 2, o.MaxKeys)

	require.Equal(t, 200, e.Do("GET", "/", alice, "").Status)
	r = e.Do("GET", path, alice, "")
	require.Equal(t, 200, r.Status, "an owner reads its own policy: %s", r.Body)
	r.JSON(t, &o)
	assert.Equal(t, int64(2), o.UsesSpent, "the owner's keys spend together, this request included")
	assert.Equal(t, 404, e.Do("GET", path, bob, "").Status, "but not another's")
	assert.Equal(t, 403, e.Do("PUT", path, alice, `{"max_keys":100}`).Status, "nor sets its own")
	assert.Equal(t, 403, e.Do("DELETE", path, alice, "").Status)

	var list struct {
		Owners []keyjson.Owner `json:"owners"`
	}
	e.Do("GET", "/admin/owners", adminKey, "").JSON(t, &list)
	require.Len(t, list.Owners, 1)
	e.Do("GET", "/admin/owners", bob, "").JSON(t, &list)
	assert.Empty(t, list.Owners, "bob has no policy and sees no other")

	// Two keys at most: one more is refused, clearly.
	require.Equal(t, 201, e.Do("POST", "/admin/keys", adminKey, `{"owner":"alice/team","name":"two"}`).Status)
	r = e.Do("POST", "/admin/keys", adminKey, `{"owner":"alice/team","name":"three"}`)
	require.Equal(t, 409, r.Status, r.Body)
	assert.Contains(t, r.Msg(t), "may have 2")

	r = e.Do("PUT", "/admin/owners/carol", adminKey, `{"max_keys":1}`)
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, `owner "carol" has no keys; create one first`, r.Msg(t), "said as what it is, not as a key not found")
	r = e.Do("GET", "/admin/owners/carol", adminKey, "")
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, `no policy for owner "carol"`, r.Msg(t))
	r = e.Do("PUT", path, adminKey, `{"rate_limits":[{"limit":1,"window":"1s"}]}`)
	assert.Equal(t, 400, r.Status, "a pooled limit needs a name")
	r = e.Do("PUT", "/admin/owners/"+bob, adminKey, `{}`)
	assert.Equal(t, 400, r.Status)
	assert.NotContains(t, r.Body, bob, "a key pasted as an owner is never repeated")

	require.Equal(t, 204, e.Do("DELETE", path, adminKey, "").Status)
	assert.Equal(t, 404, e.Do("GET", path, adminKey, "").Status)
	assert.Equal(t, 404, e.Do("DELETE", path, adminKey, "").Status)
}

// A key and an owner policy show their uses as the next request finds
// them: a refill due since they last spent counts, and next_refill_at
// says when the next one comes.
func TestMeteringShownAsOfNow(t *testing.T) {
	var clock atomic.Pointer[time.Time]
	then := time.Now().Add(-48 * time.Hour)
	clock.Store(&then)
	e := newEnvConfig(t, envConfig{KeyOpts: []apikey.Option{apikey.WithClock(func() time.Time { return *clock.Load() })}})

	// Two days ago: a key of 10 uses a day spends 3 of them, and its
	// owner, sharing 100 a day, 3 of those.
	r := e.Do("POST", "/admin/keys", adminKey, `{"owner":"alice","refill":{"amount":10,"interval":"daily"}}`)
	require.Equal(t, 201, r.Status, r.Body)
	var made secretBody
	r.JSON(t, &made)
	r = e.Do("PUT", "/admin/owners/alice", adminKey, `{"refill":{"amount":100,"interval":"daily"},"max_keys":5}`)
	require.Equal(t, 200, r.Status, r.Body)
	for range 3 {
		require.Equal(t, 200, e.Do("GET", "/", made.Plaintext, "").Status)
	}
	stored, err := e.Keys.Get(context.Background(), made.Key.ID)
	require.NoError(t, err)
	require.Equal(t, int64(7), *stored.RemainingUses)

	// Today: both are refilled when next used, and shown so already.
	now := time.Now()
	clock.Store(&now)
	today := now.UTC().Truncate(24 * time.Hour)
	tomorrow := today.Add(24 * time.Hour)
	var k keyjson.Key
	e.Do("GET", "/admin/keys/"+made.Key.ID, adminKey, "").JSON(t, &k)
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(10), *k.RemainingUses)
	assert.Equal(t, int64(3), k.UsesSpent)
	assert.Equal(t, &today, k.RefilledAt)
	assert.Equal(t, &tomorrow, k.NextRefillAt)
	assert.Equal(t, "enabled", string(k.State))

	var o keyjson.Owner
	e.Do("GET", "/admin/owners/alice", adminKey, "").JSON(t, &o)
	require.NotNil(t, o.RemainingUses)
	assert.Equal(t, int64(100), *o.RemainingUses)
	assert.Equal(t, int64(3), o.UsesSpent)
	assert.Equal(t, &today, o.RefilledAt)
	assert.Equal(t, &tomorrow, o.NextRefillAt)

	// No refill, no next one.
	r = e.Do("PATCH", "/admin/keys/"+made.Key.ID, adminKey, `{"refill":null}`)
	require.Equal(t, 200, r.Status, r.Body)
	k = keyjson.Key{}
	r.JSON(t, &k)
	assert.Nil(t, k.NextRefillAt)
}

// A PUT without remaining_uses keeps the uses the owner has; with it,
// sets them; with null, shares none.
func TestOwnerPolicyKeepsUses(t *testing.T) {
	e := newEnv(t)
	plain, _ := e.Create(apikey.NewKey{Owner: "alice"})
	uses := func() *int64 {
		var o keyjson.Owner
		e.Do("GET", "/admin/owners/alice", adminKey, "").JSON(t, &o)
		return o.RemainingUses
	}
	require.Equal(t, 200, e.Do("PUT", "/admin/owners/alice", adminKey, `{"remaining_uses":10}`).Status)
	require.Equal(t, 200, e.Do("GET", "/", plain, "").Status)
	require.Equal(t, int64(9), *uses())

	r := e.Do("PUT", "/admin/owners/alice", adminKey, `{"max_keys":3}`)
	require.Equal(t, 200, r.Status, r.Body)
	require.NotNil(t, uses())
	assert.Equal(t, int64(9), *uses(), "the use spent is not given back")
	var o keyjson.Owner
	r.JSON(t, &o)
	assert.Equal(t, 3, o.MaxKeys)

	require.Equal(t, 200, e.Do("PUT", "/admin/owners/alice", adminKey, `{"remaining_uses":50}`).Status)
	assert.Equal(t, int64(50), *uses())
	require.Equal(t, 200, e.Do("PUT", "/admin/owners/alice", adminKey, `{"remaining_uses":null}`).Status)
	assert.Nil(t, uses())

	// A new policy without remaining_uses shares none, or, with a
	// refill, starts with its amount.
	e.Create(apikey.NewKey{Owner: "bob"})
	r = e.Do("PUT", "/admin/owners/bob", adminKey, `{"refill":{"amount":5,"interval":"monthly","day":31}}`)
	require.Equal(t, 200, r.Status, r.Body)
	o = keyjson.Owner{}
	r.JSON(t, &o)
	require.NotNil(t, o.RemainingUses)
	assert.Equal(t, int64(5), *o.RemainingUses)

	// A refill due when the policy is changed is kept, not lost: the
	// policy set counts as refilled for the current period.
	zero := int64(0)
	require.NoError(t, e.Store.PutOwner(context.Background(), apikey.OwnerPolicy{Owner: "bob", RemainingUses: &zero,
		Refill:     &apikey.Refill{Amount: 5, Interval: apikey.RefillDaily},
		RefilledAt: time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour), UpdatedAt: time.Now()}))
	r = e.Do("PUT", "/admin/owners/bob", adminKey, `{"refill":{"amount":5,"interval":"daily"},"max_keys":4}`)
	require.Equal(t, 200, r.Status, r.Body)
	o = keyjson.Owner{}
	r.JSON(t, &o)
	require.NotNil(t, o.RemainingUses)
	assert.Equal(t, int64(5), *o.RemainingUses, "yesterday's spent uses, refilled today")
	stored, err := e.Keys.OwnerPolicy(context.Background(), "bob")
	require.NoError(t, err)
	assert.Equal(t, int64(5), *stored.RemainingUses)
}

// Hostile owners in the path are refused plainly, never a 500, never
// echoed when they hold a key.
func TestOwnerPathHostile(t *testing.T) {
	e := newEnv(t)
	plain, _ := e.Create(apikey.NewKey{Owner: "alice"})
	for _, path := range []string{
		"/admin/owners/%00", "/admin/owners/" + strings.Repeat("a", 10000),
		"/admin/owners/%2e%2e", "/admin/owners/a%2Fb%2F..", "/admin/owners/" + url.PathEscape(plain),
		"/admin/owners/%0d%0aSet-Cookie:%20x=1",
	} {
		for _, method := range []string{"GET", "PUT", "DELETE"} {
			r := e.Do(method, path, adminKey, `{"max_keys":1}`)
			assert.Contains(t, []int{400, 404}, r.Status, "%s %.60s: %s", method, path, r.Body)
			assert.NotContains(t, r.Body, testkitSecret(plain), "%s %.60s", method, path)
			assert.Empty(t, r.Header.Get("Set-Cookie"))
		}
	}
}

func testkitSecret(plain string) string { return plain[strings.LastIndexByte(plain, '_')+1:] }
