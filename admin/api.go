package admin

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-apikey/apikey"
)

// list answers GET keys: a page of the keys p may manage, filtered by owner
// and state. Filtering happens after the store's pages are read, so it
// reads pages until its own is full or the store has no more keys.
func (h *handler) list(w http.ResponseWriter, r *http.Request, p apikey.Principal) {
	q := r.URL.Query()
	for name := range q {
		if !slices.Contains([]string{"after", "limit", "owner", "state"}, name) {
			writeError(w, http.StatusBadRequest, "unknown query parameter "+strconv.Quote(name)+"; use after, limit, owner or state")
			return
		}
	}
	limit := defaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > apikey.MaxListLimit {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to "+strconv.Itoa(apikey.MaxListLimit))
			return
		}
		limit = n
	}
	state := apikey.KeyState(q.Get("state"))
	switch state {
	case "", apikey.StateEnabled, apikey.StateDisabled, apikey.StateExpired, apikey.StateExhausted:
	default:
		writeError(w, http.StatusBadRequest, "state must be enabled, disabled, expired or exhausted")
		return
	}
	owner := q.Get("owner")
	if h.ownKeysOnly && !p.HasScope(apikey.AdminScope) {
		// DefaultAuthorize shows no other owner's keys: list by the
		// principal's owner rather than read everyone's and drop them.
		if p.Owner == "" || (owner != "" && owner != p.Owner) {
			writeJSON(w, http.StatusOK, listResponse{Keys: []keyJSON{}})
			return
		}
		owner = p.Owner
	}

	ctx := r.Context()
	now := time.Now()
	batch := limit + 1 // one more than needed tells whether there is a next page
	if state != "" || !h.ownKeysOnly {
		batch = apikey.MaxListLimit // some keys will be dropped: read big pages
	}
	resp := listResponse{Keys: make([]keyJSON, 0, min(limit, 100))}
	cursor := r.URL.Query().Get("after")
	for {
		if err := ctx.Err(); err != nil {
			h.fail(w, r, err)
			return
		}
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: owner, After: cursor, Limit: batch})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, k := range page.Keys {
			if (state != "" && k.State(now) != state) || !h.authorize(p, k) {
				continue
			}
			if len(resp.Keys) == limit {
				resp.Next = resp.Keys[limit-1].ID // a further key matches
				writeJSON(w, http.StatusOK, resp)
				return
			}
			resp.Keys = append(resp.Keys, toJSON(k, now))
		}
		if page.Next == "" {
			break // the store has no more keys
		}
		if len(resp.Keys) == limit {
			// Full, and the store has more keys, which may or may not
			// match: reading on to find out could read the whole store.
			resp.Next = resp.Keys[limit-1].ID
			break
		}
		cursor = page.Next
	}
	writeJSON(w, http.StatusOK, resp)
}

// defaultLimit is the page size of GET keys without a limit.
const defaultLimit = 50

type listResponse struct {
	Keys []keyJSON `json:"keys"`
	// Next is the cursor for the next page (?after=), "" after the last.
	Next string `json:"next"`
}

// create answers POST keys.
func (h *handler) create(w http.ResponseWriter, r *http.Request, p apikey.Principal) {
	var req createRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	nk, err := req.newKey(p, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	scopes, err := apikey.CleanScopes(nk.Scopes)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Ask about the key as it would be stored, before storing it.
	if !h.authorize(p, apikey.Key{Owner: nk.Owner, Name: nk.Name, Description: nk.Description,
		Scopes: scopes, Metadata: nk.Metadata, Enabled: true, ExpiresAt: nk.ExpiresAt,
		RateLimit: nk.RateLimit, AllowedIPs: nk.AllowedIPs}) {
		writeError(w, http.StatusForbidden, "You may not create this key: it is for another owner or grants a scope you lack")
		return
	}
	plain, k, err := h.m.Create(r.Context(), nk)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "keys/"+k.ID)
	writeJSON(w, http.StatusCreated, secretResponse{Plaintext: plain, Key: toJSON(k, time.Now())})
}

// secretResponse is the only response that holds a plaintext key.
type secretResponse struct {
	// Plaintext is the key itself, shown this once.
	Plaintext string  `json:"plaintext"`
	Key       keyJSON `json:"key"`
}

// find returns the key id if p may manage it. Otherwise it answers 404,
// the same as for a key that does not exist, and returns false.
func (h *handler) find(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) (apikey.Key, bool) {
	k, err := h.m.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return apikey.Key{}, false
	}
	if !h.authorize(p, k) {
		writeError(w, http.StatusNotFound, msgNotFound)
		return apikey.Key{}, false
	}
	return k, true
}

const msgNotFound = "Key not found"

// get answers GET keys/{id}.
func (h *handler) get(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	if k, ok := h.find(w, r, p, id); ok {
		writeJSON(w, http.StatusOK, toJSON(k, time.Now()))
	}
}

// patch answers PATCH keys/{id}.
func (h *handler) patch(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	var req patchRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	changes, apply, err := req.changes()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	if len(changes) == 0 {
		writeJSON(w, http.StatusOK, toJSON(k, time.Now()))
		return
	}
	// Ask about the key as the change would leave it.
	changed := k.Clone()
	apply(&changed)
	if !h.authorize(p, changed) {
		writeError(w, http.StatusForbidden, "You may not make this change: it grants a scope you lack")
		return
	}
	k, err = h.m.Update(r.Context(), id, changes...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(k, time.Now()))
}

// rotate answers POST keys/{id}/rotate. An expired key cannot be rotated
// (409), nor one already rotated (409).
func (h *handler) rotate(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	var req rotateRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	grace, err := req.grace()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, ok := h.find(w, r, p, id); !ok {
		return
	}
	plain, next, err := h.m.Rotate(r.Context(), id, grace)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.authorize(p, next) {
		// The key changed between find and Rotate (say, an admin granted
		// it a scope): p must not get a plaintext of what it may not see.
		if err := h.m.Revoke(r.Context(), next.ID); err != nil {
			h.fail(w, r, err)
			return
		}
		writeError(w, http.StatusConflict, "The key changed while it was rotated")
		return
	}
	w.Header().Set("Location", "../"+next.ID) // relative to keys/{id}/rotate
	writeJSON(w, http.StatusCreated, secretResponse{Plaintext: plain, Key: toJSON(next, time.Now())})
}

// revoke answers DELETE keys/{id}.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	if _, ok := h.find(w, r, p, id); !ok {
		return
	}
	if err := h.m.Revoke(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers for an error from the Manager: 404, 400, 409, or 503 for
// anything else, which is a store failure (logged, not shown). The log
// line holds no key: the path or the store's error may quote a key the
// request held (an ID field, a cursor).
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, apikey.ErrNotFound):
		msg := msgNotFound
		if apikey.LooksLikeKey(r.URL.Path) {
			msg = msgLooksLikeKey
		}
		writeError(w, http.StatusNotFound, msg)
	case errors.Is(err, apikey.ErrInvalidInput):
		writeError(w, http.StatusBadRequest, errorText(err))
	case errors.Is(err, apikey.ErrConflict), errors.Is(err, apikey.ErrKeyExpired),
		errors.Is(err, apikey.ErrDuplicate):
		writeError(w, http.StatusConflict, errorText(err))
	default:
		h.logger.ErrorContext(r.Context(), "admin: key store failed", "method", r.Method,
			"path", redactKeys(r.URL.Path), "error", redactKeys(err.Error()))
		writeError(w, http.StatusServiceUnavailable, "Service unavailable")
	}
}
