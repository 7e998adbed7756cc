package admin_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leak is what the holder of a leaked key of alice's makes with it before
// an operator notices: a key, a key made by that key, and a rotation of
// the leaked key itself into a successor, a day's grace.
type leak struct {
	leaked, leakedID string
	successor        string // plaintext of the leaked key's successor
	successorID      string
	minted, mintedID string // made by the leaked key
	grand, grandID   string // made by minted
	untouched        string // ID: another key of alice's, made by the operator
	bobs             string // ID: bob's key
}

func leakScenario(t *testing.T, e *env) *leak {
	t.Helper()
	l := &leak{}
	l.leaked, l.leakedID = e.Create(apikey.NewKey{Owner: "alice", Name: "leaked", Scopes: []string{"bots:read"}})
	_, l.untouched = e.Create(apikey.NewKey{Owner: "alice", Name: "untouched", Scopes: []string{"bots:read"}})
	_, l.bobs = e.Create(apikey.NewKey{Owner: "bob", Name: "bob's"})
	var s secretBody
	r := e.Do("POST", "/admin/keys", l.leaked, `{"name":"minted","scopes":["bots:read"]}`)
	require.Equal(t, 201, r.Status, r.Body)
	r.JSON(t, &s)
	l.minted, l.mintedID = s.Plaintext, s.Key.ID
	r = e.Do("POST", "/admin/keys", l.minted, `{"name":"grand"}`)
	require.Equal(t, 201, r.Status, r.Body)
	r.JSON(t, &s)
	l.grand, l.grandID = s.Plaintext, s.Key.ID
	r = e.Do("POST", "/admin/keys/"+l.leakedID+"/rotate", l.leaked, `{"grace":"24h"}`)
	require.Equal(t, 201, r.Status, r.Body)
	r.JSON(t, &s)
	l.successor, l.successorID = s.Plaintext, s.Key.ID
	return l
}

func names(keys []keyBody) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.ID)
	}
	return out
}

// TestDescendants: the keys a key made, by creating or rotating, and
// theirs, are listed for the key; nothing else is.
func TestDescendants(t *testing.T) {
	e := newEnv(t)
	l := leakScenario(t, e)
	var list listBody
	r := e.Do("GET", "/admin/keys/"+l.leakedID+"/descendants", adminKey, "")
	require.Equal(t, 200, r.Status, r.Body)
	r.JSON(t, &list)
	assert.Equal(t, []string{l.successorID, l.mintedID, l.grandID}, names(list.Keys), "rotated into, made, made by what it made")
	r = e.Do("GET", "/admin/keys/"+l.mintedID+"/descendants", adminKey, "")
	r.JSON(t, &list)
	assert.Equal(t, []string{l.grandID}, names(list.Keys))
	r = e.Do("GET", "/admin/keys/"+l.untouched+"/descendants", adminKey, "")
	assert.JSONEq(t, `{"keys":[],"next":""}`, r.Body)
	// Its owner sees them too; another owner sees nothing of them.
	r = e.Do("GET", "/admin/keys/"+l.leakedID+"/descendants", l.successor, "")
	require.Equal(t, 200, r.Status, r.Body)
	r.JSON(t, &list)
	assert.Len(t, list.Keys, 3)
	bob, _ := e.Create(apikey.NewKey{Owner: "bob"})
	assert.Equal(t, 404, e.Do("GET", "/admin/keys/"+l.leakedID+"/descendants", bob, "").Status)
}

// TestCascadeDisable: an operator disabling a leaked key with cascade
// disables every key it made and the key it was rotated into, which all
// stop working; without cascade only the key is disabled.
func TestCascadeDisable(t *testing.T) {
	t.Run("PATCH", func(t *testing.T) {
		e := newEnv(t)
		l := leakScenario(t, e)
		r := e.Do("PATCH", "/admin/keys/"+l.leakedID+"?cascade=true", adminKey, `{"enabled":false}`)
		require.Equal(t, 200, r.Status, r.Body)
		var resp struct {
			Key      keyBody   `json:"key"`
			Disabled []keyBody `json:"disabled"`
		}
		r.JSON(t, &resp)
		assert.Equal(t, "disabled", resp.Key.State)
		assert.Equal(t, []string{l.successorID, l.mintedID, l.grandID}, names(resp.Disabled))
		for _, k := range resp.Disabled {
			assert.Equal(t, "disabled", k.State)
		}
		for name, plain := range map[string]string{"leaked": l.leaked, "successor": l.successor, "minted": l.minted, "grand": l.grand} {
			assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status, name)
		}
		for _, id := range []string{l.untouched, l.bobs} {
			k, err := e.Keys.Get(context.Background(), id)
			require.NoError(t, err)
			assert.True(t, k.Enabled, "a key it did not make stays enabled")
		}
		// Their owner cannot enable them again: an admin disabled them.
		alice, _ := e.Create(apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
		assert.Equal(t, 403, e.Do("PATCH", "/admin/keys/"+l.grandID, alice, `{"enabled":true}`).Status)
	})
	t.Run("DELETE", func(t *testing.T) {
		e := newEnv(t)
		l := leakScenario(t, e)
		r := e.Do("DELETE", "/admin/keys/"+l.leakedID+"?cascade=true", adminKey, "")
		require.Equal(t, 200, r.Status, r.Body)
		var resp listBody
		var raw struct {
			Disabled []keyBody `json:"disabled"`
		}
		r.JSON(t, &raw)
		resp.Keys = raw.Disabled
		assert.Equal(t, []string{l.successorID, l.mintedID, l.grandID}, names(resp.Keys))
		_, err := e.Keys.Get(context.Background(), l.leakedID)
		assert.ErrorIs(t, err, apikey.ErrNotFound)
		for name, plain := range map[string]string{"leaked": l.leaked, "successor": l.successor, "minted": l.minted, "grand": l.grand} {
			assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status, name)
		}
	})
	t.Run("without cascade", func(t *testing.T) {
		e := newEnv(t)
		l := leakScenario(t, e)
		require.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+l.leakedID, adminKey, `{"enabled":false}`).Status)
		assert.Equal(t, 200, e.Do("GET", "/", l.successor, "").Status, "left alone, as asked")
		require.Equal(t, 204, e.Do("DELETE", "/admin/keys/"+l.mintedID+"?cascade=false", adminKey, "").Status)
		assert.Equal(t, 200, e.Do("GET", "/", l.grand, "").Status)
	})
	t.Run("by the owner", func(t *testing.T) {
		e := newEnv(t)
		l := leakScenario(t, e)
		r := e.Do("PATCH", "/admin/keys/"+l.mintedID+"?cascade=true", l.successor, `{"enabled":false}`)
		require.Equal(t, 200, r.Status, r.Body)
		assert.Equal(t, 401, e.Do("GET", "/", l.grand, "").Status)
		// Her own disable: she may undo it.
		assert.Equal(t, 200, e.Do("PATCH", "/admin/keys/"+l.grandID, l.successor, `{"enabled":true}`).Status)
	})
	for _, method := range []string{"PATCH", "DELETE"} {
		t.Run("a key made meanwhile, "+method, func(t *testing.T) {
			e := newEnv(t)
			l := leakScenario(t, e)
			// The leaked key's holder makes a key after the descendants
			// were read for the admin check, just before the disable.
			var late apikey.Key
			var once atomic.Bool
			hook := func(id string) {
				if id == l.leakedID && once.CompareAndSwap(false, true) {
					var err error
					_, late, err = e.Keys.Create(context.Background(), apikey.NewKey{Owner: "alice", Name: "late", CreatedBy: l.leakedID})
					require.NoError(t, err)
				}
			}
			e.Store.BeforeUpdate.Store(&hook)
			body := ""
			if method == "PATCH" {
				body = `{"enabled":false}`
			}
			r := e.Do(method, "/admin/keys/"+l.leakedID+"?cascade=true", adminKey, body)
			require.Equal(t, 200, r.Status, r.Body)
			require.NotEmpty(t, late.ID)
			k, err := e.Keys.Get(context.Background(), late.ID)
			require.NoError(t, err)
			assert.False(t, k.Enabled, "the key made meanwhile is disabled too")
		})
	}
	t.Run("the store fails half way, and the revoke is tried again", func(t *testing.T) {
		e := newEnv(t)
		l := leakScenario(t, e)
		// The store goes down once the first descendant is disabled.
		var once atomic.Bool
		hook := func(id string) {
			if id == l.successorID && once.CompareAndSwap(false, true) {
				e.Store.Down.Store(true)
			}
		}
		e.Store.BeforeUpdate.Store(&hook)
		r := e.Do("DELETE", "/admin/keys/"+l.leakedID+"?cascade=true", adminKey, "")
		require.Equal(t, 503, r.Status, r.Body)
		e.Store.Down.Store(false)
		leaked, err := e.Keys.Get(context.Background(), l.leakedID)
		require.NoError(t, err, "the key stays, to try again with")
		assert.False(t, leaked.Enabled, "but it is disabled already")
		assert.Equal(t, 401, e.Do("GET", "/", l.leaked, "").Status)
		assert.Equal(t, 200, e.Do("GET", "/", l.grand, "").Status, "not reached yet")
		r = e.Do("DELETE", "/admin/keys/"+l.leakedID+"?cascade=true", adminKey, "")
		require.Equal(t, 200, r.Status, r.Body)
		for name, plain := range map[string]string{"successor": l.successor, "minted": l.minted, "grand": l.grand} {
			assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status, name)
		}
	})
	run(t, []tcase{
		{name: "cascade needs enabled false", method: "PATCH", path: "/admin/keys/{aliceCI}?cascade=true", as: "admin",
			body: `{"name":"x"}`, status: 400, msg: "send enabled false with it"},
		{name: "cascade with enabled true", method: "PATCH", path: "/admin/keys/{aliceCI}?cascade=true", as: "admin",
			body: `{"enabled":true}`, status: 400, msg: "send enabled false"},
		{name: "bad cascade", method: "DELETE", path: "/admin/keys/{aliceCI}?cascade=yes", as: "admin", status: 400, msg: "cascade must be true or false"},
		{name: "two cascades", method: "DELETE", path: "/admin/keys/{aliceCI}?cascade=true&cascade=false", as: "admin", status: 400, msg: "cascade must be"},
		{name: "misspelt", method: "DELETE", path: "/admin/keys/{aliceCI}?casade=true", as: "admin", status: 400, msg: `unknown query parameter "casade"`},
		{name: "misspelt on PATCH", method: "PATCH", path: "/admin/keys/{aliceCI}?cascade=true&x=1", as: "admin", body: `{"enabled":false}`, status: 400, msg: `"x"`},
		{name: "descendants of another owner's key", method: "GET", path: "/admin/keys/{bob}/descendants", as: "alice", status: 404},
		{name: "POST descendants", method: "POST", path: "/admin/keys/{bob}/descendants", as: "admin", body: `{}`, status: 405},
		{name: "store down", method: "DELETE", path: "/admin/keys/{aliceCI}?cascade=true", as: "admin", status: 503,
			setup: func(e *env, _ *fixture) { e.Store.Down.Store(true) }},
	})
}
