package admin_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sortedFixture makes 60 keys of three owners with names that differ in
// case only, repeat, or are empty, some used at the same moment, some
// disabled, and returns them as stored.
func sortedFixture(t *testing.T, e *env) []apikey.Key {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"ci", "CI", "Deploy", "deploy bot", "", "zeta", "Émile", "alpha", "Alpha", "ci"}
	used := map[string]time.Time{}
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	for i := range 60 {
		_, id := e.Create(apikey.NewKey{Owner: []string{"team", "team-b", "ops"}[i%3], Name: names[rng.IntN(len(names))]})
		switch rng.IntN(3) {
		case 0: // never used
		case 1:
			used[id] = base // a tie
		case 2:
			used[id] = base.Add(time.Duration(rng.IntN(3000)) * time.Second)
		}
		if i%7 == 0 {
			_, err := e.Keys.Disable(ctx, id)
			require.NoError(t, err)
		}
	}
	require.NoError(t, e.Store.RecordLastUsed(ctx, used))
	page, err := e.Keys.List(ctx, apikey.ListOptions{Limit: apikey.MaxListLimit})
	require.NoError(t, err)
	return page.Keys
}

// order is the documented order of a sorted list, written out here
// independently of the handler's.
func order(keys []apikey.Key, sortBy string, desc bool) []string {
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, func(a, b apikey.Key) int {
		c := 0
		switch sortBy {
		case "name":
			if c = strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c == 0 {
				c = strings.Compare(a.Name, b.Name)
			}
		case "last_used":
			c = a.LastUsedAt.Compare(b.LastUsedAt)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

// holds is the search's rule: name, owner, ID or start holds s, in any
// case. (A key's random start or ID may hold a short search too.)
func holds(k apikey.Key, s string) bool {
	for _, f := range []string{k.Name, k.Owner, k.ID, k.Start} {
		if strings.Contains(strings.ToLower(f), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

func keep(keys []apikey.Key, f func(apikey.Key) bool) []apikey.Key {
	var out []apikey.Key
	for _, k := range keys {
		if f(k) {
			out = append(out, k)
		}
	}
	return out
}

// TestListSorted: every sort and order, with and without filters, paged
// by any limit, lists each matching key once, in the documented order;
// next is "" exactly on the last page of a sorted list.
func TestListSorted(t *testing.T) {
	e := newEnv(t)
	all := sortedFixture(t, e)
	now := time.Now()
	filters := []struct {
		query string
		keep  func(apikey.Key) bool
	}{
		{"", func(apikey.Key) bool { return true }},
		{"state=disabled", func(k apikey.Key) bool { return k.State(now) == apikey.StateDisabled }},
		{"owner=team", func(k apikey.Key) bool { return k.Owner == "team" }},
		{"q=CI", func(k apikey.Key) bool { return holds(k, "ci") }},
		{"q=team&state=enabled", func(k apikey.Key) bool { return holds(k, "team") && k.State(now) == apikey.StateEnabled }},
	}
	for _, f := range filters {
		want := keep(all, f.keep)
		require.NotEmpty(t, want, f.query)
		for _, sortBy := range []string{"created", "name", "last_used"} {
			for _, desc := range []bool{false, true} {
				q := f.query + "&sort=" + sortBy
				if desc {
					q += "&order=desc"
				}
				for _, limit := range []int{1, 4, 7, 1000} {
					got, pages := walk(t, e, adminKey, q, limit)
					require.Equal(t, order(want, sortBy, desc), got, "%s, limit %d", q, limit)
					if desc || sortBy != "created" {
						assert.Equal(t, (len(want)+limit-1)/limit, pages, "%s, limit %d: no empty last page", q, limit)
					}
				}
			}
		}
	}
	// Without sort or order, the list is oldest first, as it always was.
	got, _ := walk(t, e, adminKey, "", 10)
	assert.Equal(t, order(all, "created", false), got)
}

// TestListNewestFirst: a key just made is the first of the list, whatever
// the number of keys before it.
func TestListNewestFirst(t *testing.T) {
	e := newEnv(t)
	for i := range 52 {
		e.Create(apikey.NewKey{Owner: "o", Name: fmt.Sprint("k", i)})
	}
	r := e.Do("POST", "/admin/keys", adminKey, `{"name":"just made","owner":"o"}`)
	require.Equal(t, 201, r.Status, r.Body)
	var l listBody
	r = e.Do("GET", "/admin/keys?order=desc", adminKey, "")
	require.Equal(t, 200, r.Status, r.Body)
	r.JSON(t, &l)
	require.Len(t, l.Keys, 50)
	assert.Equal(t, "just made", l.Keys[0].Name)
	assert.Equal(t, "k51", l.Keys[1].Name)
	assert.NotEmpty(t, l.Next)
}

// TestListSearch: q finds keys by any part of their name, owner, ID or
// start, in any case, and nothing else (not the description); a key
// pasted as a search is refused without being repeated.
func TestListSearch(t *testing.T) {
	e := newEnv(t)
	plain, deployID := e.Create(apikey.NewKey{Owner: "platform", Name: "Deploy Bot", Description: "team"})
	_, teamID := e.Create(apikey.NewKey{Owner: "TEAM-blue", Name: "ci"})
	_, otherID := e.Create(apikey.NewKey{Owner: "ops", Name: "nightly"})
	deploy, err := e.Keys.Get(context.Background(), deployID)
	require.NoError(t, err)
	for q, want := range map[string][]string{
		"deploy":                   {deployID},
		"  BOT ":                   {deployID}, // trimmed
		"team":                     {teamID},   // the owner, not the description
		"Blue":                     {teamID},
		strings.ToLower(otherID):   {otherID},
		otherID[16:]:               {otherID}, // IDs made together differ at the end
		deploy.Start:               {deployID},
		strings.ToUpper(deploy.ID): {deployID},
		"nothing like it":          nil,
	} {
		for _, extra := range []string{"", "&order=desc", "&sort=name"} {
			got, _ := walk(t, e, adminKey, "q="+url.QueryEscape(q)+extra, 10)
			assert.Equal(t, want, got, "q=%q%s", q, extra)
		}
	}
	// Owner filter and search together; a non-admin searches its own keys.
	got, _ := walk(t, e, adminKey, "q=i&owner=ops", 10)
	assert.Equal(t, []string{otherID}, got)
	blue, _ := e.Create(apikey.NewKey{Owner: "TEAM-blue", Name: "blue's own"})
	got, _ = walk(t, e, blue, "q=BLUE&order=desc", 10)
	require.Len(t, got, 2, "TEAM-blue's key sees its owner's keys only")
	assert.Equal(t, teamID, got[1])

	for _, q := range []string{plain, "Bearer " + plain, plain[:len(plain)-3]} {
		r := e.Do("GET", "/admin/keys?q="+url.QueryEscape(q), adminKey, "")
		require.Equal(t, 400, r.Status, r.Body)
		assert.Contains(t, r.Msg(t), "looks like an API key")
		assert.NotContains(t, r.Body, plain[len(plain)-20:len(plain)-6], "the key is not repeated")
	}
	r := e.Do("GET", "/admin/keys?q="+strings.Repeat("x", 257), adminKey, "")
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.Msg(t), "longer than 256")
}

// TestListSortedBadParameters: sort, order and a sorted list's cursor
// take only what the documentation names.
func TestListSortedBadParameters(t *testing.T) {
	e := newEnv(t)
	e.Create(apikey.NewKey{Owner: "o", Name: "a"})
	for query, msg := range map[string]string{
		"sort=newest":                                        "sort must be created, name or last_used",
		"order=descending":                                   "order must be asc or desc",
		"sort=name&after=not-a-cursor":                       "after is not a cursor of this list (sort=name)",
		"sort=name&after=%25%25.01ABC":                       "after is not a cursor of this list",
		"sort=last_used&after=yesterday.01A":                 "after is not a cursor of this list (sort=last_used)",
		"sort=name&after=" + strings.Repeat("A", 600) + ".x": "after is not a cursor",
		"order=desc&after=" + strings.Repeat("A", 600):       "cursor is longer than 64 bytes",
		"order=desc&after=" + strings.Repeat("Z", 65):        "cursor is longer than 64 bytes", // longer than any ID
		"q=a&ownr=x": "unknown query parameter",
	} {
		r := e.Do("GET", "/admin/keys?"+query, adminKey, "")
		assert.Equal(t, 400, r.Status, query)
		assert.Contains(t, r.Msg(t), msg, query)
	}
}

// TestListSortedCursorOutlivesItsKey: the next page of a sorted list
// starts where the last one ended, even when the key that ended it was
// revoked or renamed in between.
func TestListSortedCursorOutlivesItsKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		_, id := e.Create(apikey.NewKey{Owner: "o", Name: name})
		ids = append(ids, id)
	}
	page := func(query string) listBody {
		t.Helper()
		r := e.Do("GET", "/admin/keys?"+query, adminKey, "")
		require.Equal(t, 200, r.Status, r.Body)
		var l listBody
		r.JSON(t, &l)
		return l
	}
	first := page("sort=name&limit=2")
	require.Equal(t, []string{ids[0], ids[1]}, names(first.Keys))
	_, err := e.Keys.Update(ctx, ids[1], apikey.SetName("z"))
	require.NoError(t, err)
	assert.Equal(t, []string{ids[2], ids[3]}, names(page("sort=name&limit=2&after="+url.QueryEscape(first.Next)).Keys))

	first = page("order=desc&limit=2")
	require.Equal(t, []string{ids[5], ids[4]}, names(first.Keys))
	require.NoError(t, e.Keys.Revoke(ctx, ids[4]))
	assert.Equal(t, []string{ids[3], ids[2]}, names(page("order=desc&limit=2&after="+first.Next).Keys))
}

// countingStore counts the store's List calls and the keys they return.
type countingStore struct {
	*apikey.MemoryStore
	calls, keys atomic.Int64
	owners      atomic.Int64 // calls with an owner
}

func (s *countingStore) List(ctx context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	keys, err := s.MemoryStore.List(ctx, opts)
	s.calls.Add(1)
	s.keys.Add(int64(len(keys)))
	if opts.Owner != "" {
		s.owners.Add(1)
	}
	return keys, err
}

// TestListSortedCost: a sorted list costs one store query per 1,000 keys
// it may list, reads only the principal's owner's keys without
// AdminScope, and by creation, oldest or newest first, reads only what it
// needs.
func TestListSortedCost(t *testing.T) {
	store := &countingStore{MemoryStore: apikey.NewMemoryStore()}
	keys := apikey.New(store)
	defer keys.Close()
	ctx := context.Background()
	adminPlain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "ops", Scopes: []string{apikey.AdminScope}})
	require.NoError(t, err)
	alicePlain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	for i := range 2498 {
		_, _, err := keys.Create(ctx, apikey.NewKey{Owner: []string{"bob", "alice"}[min(i%50, 1)], Name: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	srv := httptest.NewServer(admin.New(keys))
	defer srv.Close()
	get := func(key, query string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+"/keys?"+query, nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", key)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, query)
	}
	// The store is asked for one key more than a page, to tell whether
	// there is a next one: 2,500 keys are read as 1,001 + 1,001 + 500.
	for _, c := range []struct {
		key, query          string
		calls, keys, owners int64
	}{
		{adminPlain, "limit=50", 1, 52, 0},                        // oldest first: one page
		{adminPlain, "order=desc&limit=50", 1, 52, 0},             // newest first: one page
		{adminPlain, "sort=name&order=desc&limit=50", 3, 2502, 0}, // every key (2,500)
		{adminPlain, "sort=name&q=zzz", 3, 2502, 0},               // every key, none matching
		{adminPlain, "order=desc&owner=bob", 1, 50, 1},            // bob's keys only (50)
		{alicePlain, "order=desc&limit=10", 1, 12, 1},             // alice's newest only
		{alicePlain, "sort=name&limit=10", 3, 2451, 3},            // alice's keys only (2,449)
		{alicePlain, "sort=last_used&limit=10", 3, 2451, 3},       // alice's keys only
	} {
		store.calls.Store(0)
		store.keys.Store(0)
		store.owners.Store(0)
		get(c.key, c.query)
		assert.Equal(t, c.calls, store.calls.Load(), "%s: store queries", c.query)
		assert.Equal(t, c.keys, store.keys.Load(), "%s: keys read", c.query)
		assert.Equal(t, c.owners, store.owners.Load(), "%s: queries by owner", c.query)
	}
}

// TestRotationChain: a key's rotation chain, oldest first, is the same
// from each of its keys; it stops at a key revoked since, and at one the
// principal may not manage, which it does not show.
func TestRotationChain(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.Create(apikey.NewKey{Owner: "alice", Name: "alice", Scopes: []string{"bots:read"}})
	_, k0 := e.Create(apikey.NewKey{Owner: "alice", Name: "ci", Scopes: []string{"bots:read"}})
	_, lone := e.Create(apikey.NewKey{Owner: "alice", Name: "lone"})
	chain := []string{k0}
	for range 3 {
		r := e.Do("POST", "/admin/keys/"+chain[len(chain)-1]+"/rotate", adminKey, `{"grace":"1h"}`)
		require.Equal(t, 201, r.Status, r.Body)
		var s secretBody
		r.JSON(t, &s)
		chain = append(chain, s.Key.ID)
	}
	rotations := func(key, id string) []string {
		t.Helper()
		r := e.Do("GET", "/admin/keys/"+id+"/rotations", key, "")
		require.Equal(t, 200, r.Status, r.Body)
		var l listBody
		r.JSON(t, &l)
		assert.Empty(t, l.Next)
		return names(l.Keys)
	}
	for _, id := range chain {
		assert.Equal(t, chain, rotations(adminKey, id))
		assert.Equal(t, chain, rotations(alice, id))
	}
	assert.Equal(t, []string{lone}, rotations(adminKey, lone))

	// A scope alice lacks on the second key: she sees the chain on either
	// side of it only, and not that key (404).
	_, err := e.Keys.Update(context.Background(), chain[1], apikey.SetScopes("bots:write"))
	require.NoError(t, err)
	assert.Equal(t, chain[2:], rotations(alice, chain[2]))
	assert.Equal(t, chain[:1], rotations(alice, chain[0]))
	assert.Equal(t, 404, e.Do("GET", "/admin/keys/"+chain[1]+"/rotations", alice, "").Status)
	assert.Equal(t, chain, rotations(adminKey, chain[3]))

	// Revoked: the chain stops there.
	require.NoError(t, e.Keys.Revoke(context.Background(), chain[2]))
	assert.Equal(t, chain[:2], rotations(adminKey, chain[0]))
	assert.Equal(t, chain[3:], rotations(adminKey, chain[3]))

	// A chain made into a loop by hand (SQL, a broken store) ends.
	_, a := e.Create(apikey.NewKey{Owner: "carol", Name: "a"})
	_, b := e.Create(apikey.NewKey{Owner: "carol", Name: "b"})
	for _, pair := range [][2]string{{a, b}, {b, a}} {
		_, err := e.Store.Update(context.Background(), pair[0], func(k *apikey.Key) error { k.RotatedTo = pair[1]; return nil })
		require.NoError(t, err)
	}
	assert.Equal(t, []string{b, a}, rotations(adminKey, a))
	assert.Equal(t, []string{a, b}, rotations(adminKey, b))

	r := e.Do("POST", "/admin/keys/"+chain[0]+"/rotations", adminKey, `{}`)
	assert.Equal(t, 405, r.Status)
	assert.Equal(t, "GET, HEAD", r.Header.Get("Allow"))
}

// TestWhoamiMaxGrace: whoami tells the page the longest grace the signed
// in principal may give a rotation: none for an admin, WithMaxGrace's
// for anyone else.
func TestWhoamiMaxGrace(t *testing.T) {
	grace := func(e *env, key string) string {
		t.Helper()
		r := e.Do("GET", "/admin/whoami", key, "")
		require.Equal(t, 200, r.Status, r.Body)
		var w struct {
			MaxGrace *string `json:"max_grace"`
		}
		r.JSON(t, &w)
		if w.MaxGrace == nil {
			return "null"
		}
		return *w.MaxGrace
	}
	e := newEnv(t)
	alice, _ := e.Create(apikey.NewKey{Owner: "alice"})
	assert.Equal(t, "null", grace(e, adminKey))
	assert.Equal(t, "24h", grace(e, alice))
	e = newEnv(t, admin.WithMaxGrace(90*time.Minute))
	alice, _ = e.Create(apikey.NewKey{Owner: "alice"})
	assert.Equal(t, "1h30m", grace(e, alice))
}
