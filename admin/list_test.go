package admin_test

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// walk lists every page of query as key, checking that every page but the
// last is full, and returns the IDs in order and the number of pages.
func walk(t *testing.T, e *env, key, query string, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	after, pages := "", 0
	for {
		q, err := url.ParseQuery(query)
		require.NoError(t, err)
		q.Set("limit", fmt.Sprint(limit))
		if after != "" {
			q.Set("after", after)
		}
		r := e.Do("GET", "/admin/keys?"+q.Encode(), key, "")
		require.Equal(t, 200, r.Status, r.Body)
		var l listBody
		r.JSON(t, &l)
		pages++
		for _, k := range l.Keys {
			ids = append(ids, k.ID)
		}
		if l.Next == "" {
			return ids, pages
		}
		require.Len(t, l.Keys, limit, "a page with a next cursor must be full (page %d)", pages)
		// The cursor names the last key: its ID, after the value sorted
		// by for sort=name or last_used.
		require.True(t, strings.HasSuffix(l.Next, l.Keys[len(l.Keys)-1].ID), "next %q", l.Next)
		after = l.Next
		require.Less(t, pages, 1000, "paging does not end")
	}
}

// TestListPagingWithStateFilter fills every page with keys of the asked
// state, whatever lies between them in the store.
func TestListPagingWithStateFilter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	want := map[apikey.KeyState][]string{}
	var all []string
	for i := range 40 {
		_, id := e.Create(apikey.NewKey{Owner: []string{"carol", "dave"}[i%2], Name: fmt.Sprint("k", i)})
		all = append(all, id)
		state := apikey.StateEnabled
		var err error
		switch i % 5 {
		case 1, 3:
			_, err = e.Keys.Disable(ctx, id)
			state = apikey.StateDisabled
		case 2:
			_, err = e.Keys.Update(ctx, id, apikey.SetExpiry(time.Now().Add(-time.Minute)))
			state = apikey.StateExpired
		case 4:
			if i%10 == 4 {
				_, err = e.Keys.Update(ctx, id, apikey.SetRemainingUses(0))
				state = apikey.StateExhausted
			}
		}
		require.NoError(t, err)
		want[state] = append(want[state], id)
	}
	for _, state := range []apikey.KeyState{apikey.StateEnabled, apikey.StateDisabled, apikey.StateExpired, apikey.StateExhausted} {
		for _, limit := range []int{1, 3, 7, 100} {
			got, pages := walk(t, e, adminKey, "state="+string(state), limit)
			assert.Equal(t, want[state], got, "state %s, limit %d", state, limit)
			assert.LessOrEqual(t, pages, len(want[state])/limit+1, "state %s, limit %d: no needless pages", state, limit)
		}
	}
	// Without a filter, paging is exact: next is "" on the last full page.
	got, pages := walk(t, e, adminKey, "", 10)
	assert.Equal(t, all, got)
	assert.Equal(t, 4, pages)

	// Owner and state together.
	got, _ = walk(t, e, adminKey, "owner=dave&state=disabled", 2)
	var daveDisabled []string
	for _, id := range want[apikey.StateDisabled] {
		k, err := e.Keys.Get(ctx, id)
		require.NoError(t, err)
		if k.Owner == "dave" {
			daveDisabled = append(daveDisabled, id)
		}
	}
	assert.Equal(t, daveDisabled, got)
}

// TestListFilterReadsManyStorePages: two disabled keys after 1,200 enabled
// ones are found in one request, though the store hands out at most 1,000
// keys a page.
func TestListFilterReadsManyStorePages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 1200 {
		e.Create(apikey.NewKey{Owner: "o", Name: fmt.Sprint(i)})
	}
	var want []string
	for range 2 {
		_, id := e.Create(apikey.NewKey{Owner: "o", Name: "off"})
		_, err := e.Keys.Disable(ctx, id)
		require.NoError(t, err)
		want = append(want, id)
	}
	r := e.Do("GET", "/admin/keys?state=disabled&limit=2", adminKey, "")
	require.Equal(t, 200, r.Status)
	var l listBody
	r.JSON(t, &l)
	require.Len(t, l.Keys, 2)
	assert.Equal(t, want, []string{l.Keys[0].ID, l.Keys[1].ID})
	assert.Empty(t, l.Next, "the store is exhausted: no next page")

	r = e.Do("GET", "/admin/keys?state=expired", adminKey, "")
	assert.JSONEq(t, `{"keys":[],"next":""}`, r.Body)
}

// TestListFilterFullAtEndOfStorePage: a filtered page that fills with the
// last key of a store page, while the store has more keys, gives a cursor,
// and the pages after it hold the rest, each key once. When none of the
// keys beyond match, the cursor leads to an empty last page.
func TestListFilterFullAtEndOfStorePage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	disable := func(id string) {
		t.Helper()
		_, err := e.Keys.Disable(ctx, id)
		require.NoError(t, err)
	}
	var want []string
	for i := range apikey.MaxListLimit { // one store page exactly
		_, id := e.Create(apikey.NewKey{Owner: "o", Name: fmt.Sprint(i)})
		if i == 499 || i == apikey.MaxListLimit-1 {
			disable(id)
			want = append(want, id)
		}
	}
	for i := range 10 {
		e.Create(apikey.NewKey{Owner: "o", Name: fmt.Sprint("more ", i)})
	}

	// Nothing disabled beyond the first store page: an empty last page.
	r := e.Do("GET", "/admin/keys?state=disabled&limit=2", adminKey, "")
	require.Equal(t, 200, r.Status, r.Body)
	var l listBody
	r.JSON(t, &l)
	require.Len(t, l.Keys, 2)
	assert.Equal(t, want, []string{l.Keys[0].ID, l.Keys[1].ID})
	assert.Equal(t, want[1], l.Next, "full, and the store has more keys: a cursor")
	r = e.Do("GET", "/admin/keys?state=disabled&limit=2&after="+l.Next, adminKey, "")
	require.Equal(t, 200, r.Status, r.Body)
	assert.JSONEq(t, `{"keys":[],"next":""}`, r.Body)

	// Disabled keys beyond it: the next page holds them.
	for i := range 3 {
		_, id := e.Create(apikey.NewKey{Owner: "o", Name: fmt.Sprint("off ", i)})
		disable(id)
		want = append(want, id)
	}
	got, pages := walk(t, e, adminKey, "state=disabled", 2)
	assert.Equal(t, want, got, "every disabled key once, in order")
	assert.Equal(t, 3, pages)
}

// TestListAsOwner: a principal without AdminScope pages through its own
// keys only, even among many of another owner.
func TestListAsOwner(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.Create(apikey.NewKey{Owner: "alice", Scopes: []string{"s"}})
	var want []string
	for i := range 30 {
		owner := "bob"
		if i%3 == 0 {
			owner = "alice"
		}
		_, id := e.Create(apikey.NewKey{Owner: owner, Scopes: []string{"s"}})
		if owner == "alice" {
			want = append(want, id)
		}
	}
	got, _ := walk(t, e, alice, "", 4)
	assert.Equal(t, want, got[1:], "alice's keys after the one she uses")
	got, _ = walk(t, e, alice, "owner=bob", 4)
	assert.Empty(t, got)
}

// TestConcurrentCreatesAndPatches runs creates, patches, lists and
// rotations at once (with -race), and checks nothing was lost.
func TestConcurrentCreatesAndPatches(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.Create(apikey.NewKey{Owner: "alice", Scopes: []string{"s"}})
	_, shared := e.Create(apikey.NewKey{Owner: "alice", Name: "shared", Scopes: []string{"s"}})
	const workers, each = 8, 15
	var wg sync.WaitGroup
	created := make(chan string, workers*each)
	for w := range workers {
		wg.Go(func() {
			key := adminKey
			if w%2 == 1 {
				key = alice
			}
			for i := range each {
				r := e.Do("POST", "/admin/keys", key, fmt.Sprintf(`{"name":"w%d-%d","owner":"alice","scopes":["s"]}`, w, i))
				if !assert.Equal(t, 201, r.Status, r.Body) {
					return
				}
				var s secretBody
				r.JSON(t, &s)
				created <- s.Key.ID
				r = e.Do("PATCH", "/admin/keys/"+shared, key, fmt.Sprintf(`{"name":"w%d-%d","enabled":%t}`, w, i, i%2 == 0))
				if key == alice {
					// alice may not enable what the admin disabled (403),
					// nor what the admin disabled after she looked (409).
					assert.Contains(t, []int{200, 403, 409}, r.Status, r.Body)
				} else {
					assert.Equal(t, 200, r.Status, r.Body)
				}
				r = e.Do("PATCH", "/admin/keys/"+s.Key.ID, key, `{"description":"patched"}`)
				assert.Equal(t, 200, r.Status, r.Body)
				r = e.Do("GET", "/admin/keys?limit=5&state=enabled", key, "")
				assert.Equal(t, 200, r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	close(created)
	var ids []string
	for id := range created {
		k, err := e.Keys.Get(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, "patched", k.Description)
		ids = append(ids, id)
	}
	require.Len(t, ids, workers*each)
	slices.Sort(ids)
	assert.Len(t, slices.Compact(ids), workers*each, "IDs are unique")
	got, _ := walk(t, e, adminKey, "owner=alice", 1000)
	assert.Len(t, got, workers*each+2)
}
