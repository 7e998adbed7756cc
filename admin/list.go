package admin

import (
	"container/heap"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
)

// defaultLimit is the page size of GET keys without a limit.
const defaultLimit = 50

// maxSearchLen bounds ?q=: as long as the longest name or owner.
const maxSearchLen = 256

// maxCursorLen bounds ?after= of a sorted list: a name's 256 bytes in
// base64, a dot and an ID. A list by creation takes an ID, at most
// maxIDLen bytes, as Manager.List does.
const (
	maxCursorLen = 512
	maxIDLen     = 64
)

// The orders of GET keys (?sort=).
const (
	sortCreated  = "created" // by ID, which sorts in creation order
	sortName     = "name"
	sortLastUsed = "last_used"
)

type listResponse struct {
	Keys []keyJSON `json:"keys"`
	// Next is the cursor for the next page (?after=), "" after the last.
	Next string `json:"next"`
}

// listQuery is what GET keys asks for.
type listQuery struct {
	limit  int
	state  apikey.KeyState
	owner  string
	search string // ?q=, lower-cased; "" for none
	sort   string
	desc   bool
	after  string
}

// parseListQuery reads GET keys' parameters, or says what is wrong with
// them. It never repeats q or after, which may hold a key pasted in the
// wrong place.
func parseListQuery(q url.Values) (listQuery, string) {
	lq := listQuery{limit: defaultLimit, sort: sortCreated}
	for name := range q {
		if !slices.Contains([]string{"after", "limit", "owner", "state", "q", "sort", "order"}, name) {
			return lq, "unknown query parameter " + strconv.Quote(name) + "; use after, limit, owner, state, q, sort or order"
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > apikey.MaxListLimit {
			return lq, "limit must be a number from 1 to " + strconv.Itoa(apikey.MaxListLimit)
		}
		lq.limit = n
	}
	lq.state = apikey.KeyState(q.Get("state"))
	switch lq.state {
	case "", apikey.StateEnabled, apikey.StateDisabled, apikey.StateExpired, apikey.StateExhausted:
	default:
		return lq, "state must be enabled, disabled, expired or exhausted"
	}
	switch s := q.Get("sort"); s {
	case "":
	case sortCreated, sortName, sortLastUsed:
		lq.sort = s
	default:
		return lq, "sort must be created, name or last_used"
	}
	switch q.Get("order") {
	case "", "asc":
	case "desc":
		lq.desc = true
	default:
		return lq, "order must be asc or desc"
	}
	search := strings.TrimSpace(q.Get("q"))
	switch {
	case apikey.LooksLikeKey(search) || apikey.ResemblesKey(search):
		return lq, "q looks like an API key, which a search must not carry (URLs end up in logs): " +
			"search by its start, such as ak_4qGZ, or its ID; it is not repeated here"
	case len(search) > maxSearchLen:
		return lq, "q is longer than " + strconv.Itoa(maxSearchLen) + " bytes"
	}
	lq.search = strings.ToLower(search)
	lq.owner = q.Get("owner")
	lq.after = q.Get("after")
	return lq, ""
}

// streams reports whether the list can be read in an order the store
// lists in, stopping once the page is full: by creation (ID order),
// oldest or newest first. Any other order needs every key the principal
// may list.
func (lq *listQuery) streams() bool { return lq.sort == sortCreated }

// matches reports whether k passes the list's filters (state and search).
func (lq *listQuery) matches(k apikey.Key, now time.Time) bool {
	if lq.state != "" && k.State(now) != lq.state {
		return false
	}
	if lq.search == "" {
		return true
	}
	for _, s := range []string{k.Name, k.Owner, k.ID, k.Start} {
		if strings.Contains(strings.ToLower(s), lq.search) {
			return true
		}
	}
	return false
}

// sortKey is what the list's order compares of a key: its name folded
// for case, then as it is, then the time of its last use (0 for never),
// then its ID, which breaks every tie, so the order is total and a
// cursor names one place in it.
type sortKey struct {
	fold, name string
	used       int64 // microseconds since the Unix epoch; 0 for never
	id         string
}

func (lq *listQuery) keyOf(k apikey.Key) sortKey {
	s := sortKey{id: k.ID}
	switch lq.sort {
	case sortName:
		s.fold, s.name = strings.ToLower(k.Name), k.Name
	case sortLastUsed:
		if !k.LastUsedAt.IsZero() {
			s.used = k.LastUsedAt.UnixMicro()
		}
	}
	return s
}

// before reports whether a comes before b in the list's order.
func (lq *listQuery) before(a, b sortKey) bool {
	c := strings.Compare(a.fold, b.fold)
	if c == 0 {
		c = strings.Compare(a.name, b.name)
	}
	if c == 0 {
		c = cmpInt(a.used, b.used)
	}
	if c == 0 {
		c = strings.Compare(a.id, b.id)
	}
	if lq.desc {
		return c > 0
	}
	return c < 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cursor is the next field of a sorted list's page ending with k: the
// ID, when sorted by creation as the store's own cursor is; otherwise
// the value sorted by and the ID, so that a page starts where the last
// one ended even if that key has since changed or gone.
func (lq *listQuery) cursor(k sortKey) string {
	switch lq.sort {
	case sortName:
		return base64.RawURLEncoding.EncodeToString([]byte(k.name)) + "." + k.id
	case sortLastUsed:
		return strconv.FormatInt(k.used, 10) + "." + k.id
	}
	return k.id
}

// parseCursor reads a cursor made by cursor for the same sort.
func (lq *listQuery) parseCursor(s string) (sortKey, bool) {
	if len(s) > maxCursorLen {
		return sortKey{}, false
	}
	if lq.sort == sortCreated {
		return sortKey{id: s}, s != "" && len(s) <= maxIDLen
	}
	value, id, ok := strings.Cut(s, ".")
	if !ok || id == "" {
		return sortKey{}, false
	}
	k := sortKey{id: id}
	if lq.sort == sortName {
		name, err := base64.RawURLEncoding.DecodeString(value)
		if err != nil {
			return sortKey{}, false
		}
		k.name, k.fold = string(name), strings.ToLower(string(name))
		return k, true
	}
	used, err := strconv.ParseInt(value, 10, 64)
	k.used = used
	return k, err == nil
}

// list answers GET keys: a page of the keys p may manage, filtered by
// owner, state and search, in the order asked. By creation, oldest (the
// default) or newest first, it reads the store's pages from the cursor
// until its own is full; any other order reads every key p may list (see
// sorted).
func (h *handler) list(w http.ResponseWriter, r *http.Request, p apikey.Principal) {
	lq, msg := parseListQuery(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	if h.ownKeysOnly && !p.HasScope(apikey.AdminScope) {
		// DefaultAuthorize shows no other owner's keys: list by the
		// principal's owner rather than read everyone's and drop them.
		if p.Owner == "" || (lq.owner != "" && lq.owner != p.Owner) {
			writeJSON(w, http.StatusOK, listResponse{Keys: []keyJSON{}})
			return
		}
		lq.owner = p.Owner
	}
	var resp listResponse
	var err error
	if lq.streams() {
		resp, err = h.streamed(r, p, &lq)
	} else {
		resp, err = h.sorted(r, p, &lq)
	}
	if err != nil {
		if errors.Is(err, errBadCursor) {
			writeError(w, http.StatusBadRequest, "after is not a cursor of this list (sort="+lq.sort+"): start again without it")
			return
		}
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// errBadCursor is a sorted list's ?after= that no page of it gave.
var errBadCursor = errors.New("admin: not a cursor of this list")

// streamed reads the list by creation, in the store's order (ascending
// or descending IDs), from the cursor until the page is full or the store
// has no more keys.
func (h *handler) streamed(r *http.Request, p apikey.Principal, lq *listQuery) (listResponse, error) {
	ctx := r.Context()
	now := time.Now()
	batch := lq.limit + 1 // one more than needed tells whether there is a next page
	if lq.state != "" || lq.search != "" || !h.ownKeysOnly {
		batch = apikey.MaxListLimit // some keys will be dropped: read big pages
	}
	limit := lq.limit
	resp := listResponse{Keys: make([]keyJSON, 0, min(limit, 100))}
	cursor := lq.after
	for {
		if err := ctx.Err(); err != nil {
			return resp, err
		}
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: lq.owner, After: cursor, Limit: batch, Descending: lq.desc})
		if err != nil {
			return resp, err
		}
		for _, k := range page.Keys {
			if !lq.matches(k, now) || !h.authorize(p, k) {
				continue
			}
			if len(resp.Keys) == limit {
				resp.Next = resp.Keys[limit-1].ID // a further key matches
				return resp, nil
			}
			resp.Keys = append(resp.Keys, toJSON(k, now))
		}
		if page.Next == "" {
			return resp, nil // the store has no more keys
		}
		if len(resp.Keys) == limit {
			// Full, and the store has more keys, which may or may not
			// match: reading on to find out could read the whole store.
			resp.Next = resp.Keys[limit-1].ID
			return resp, nil
		}
		cursor = page.Next
	}
}

// sorted reads every key p may list (an owner's keys only, when the list
// is by owner), one store page of MaxListLimit keys at a time, and keeps
// the limit+1 that come first after the cursor in the list's order: its
// cost is one store query per 1,000 keys read, whatever the order, and
// the memory of the page, not of the store.
func (h *handler) sorted(r *http.Request, p apikey.Principal, lq *listQuery) (listResponse, error) {
	ctx := r.Context()
	now := time.Now()
	var from *sortKey
	if lq.after != "" {
		c, ok := lq.parseCursor(lq.after)
		if !ok {
			return listResponse{}, errBadCursor
		}
		from = &c
	}
	top := &firstKeys{lq: lq, max: lq.limit + 1}
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return listResponse{}, err
		}
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: lq.owner, After: cursor, Limit: apikey.MaxListLimit})
		if err != nil {
			return listResponse{}, err
		}
		for _, k := range page.Keys {
			if !lq.matches(k, now) || !h.authorize(p, k) {
				continue
			}
			sk := lq.keyOf(k)
			if from != nil && !lq.before(*from, sk) {
				continue // on an earlier page
			}
			top.offer(k, sk)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	keys := top.inOrder()
	resp := listResponse{Keys: make([]keyJSON, 0, min(len(keys), lq.limit))}
	for i, e := range keys {
		if i == lq.limit {
			resp.Next = lq.cursor(keys[i-1].sk)
			break
		}
		resp.Keys = append(resp.Keys, toJSON(e.k, now))
	}
	return resp, nil
}

// firstKeys keeps the max keys that come first in lq's order of those
// offered, in a heap whose root is the last of them, so each offer costs
// one comparison when it comes later than all kept, and log(max) when
// it replaces one. The heap moves pointers: a Key is too big to swap.
type firstKeys struct {
	lq  *listQuery
	max int
	h   []*entry
}

type entry struct {
	k  apikey.Key
	sk sortKey
}

func (f *firstKeys) offer(k apikey.Key, sk sortKey) {
	if len(f.h) < f.max {
		heap.Push(f, &entry{k, sk})
		return
	}
	if f.lq.before(sk, f.h[0].sk) {
		*f.h[0] = entry{k, sk}
		heap.Fix(f, 0)
	}
}

// inOrder returns the keys kept, first first.
func (f *firstKeys) inOrder() []*entry {
	out := slices.Clone(f.h)
	slices.SortFunc(out, func(a, b *entry) int {
		if f.lq.before(a.sk, b.sk) {
			return -1
		}
		return 1 // never equal: IDs differ
	})
	return out
}

// heap.Interface, with the root the last in the list's order.
func (f *firstKeys) Len() int           { return len(f.h) }
func (f *firstKeys) Less(i, j int) bool { return f.lq.before(f.h[j].sk, f.h[i].sk) }
func (f *firstKeys) Swap(i, j int)      { f.h[i], f.h[j] = f.h[j], f.h[i] }
func (f *firstKeys) Push(x any)         { f.h = append(f.h, x.(*entry)) }
func (f *firstKeys) Pop() any {
	e := f.h[len(f.h)-1]
	f.h = f.h[:len(f.h)-1]
	return e
}
