package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-apikey/apikey"
)

// descendants returns the keys root made, and theirs in turn: those whose
// CreatedBy names it (created, or rotated into, by its holder through this
// API) and the key its RotatedTo names, whoever rotated it. Whoever holds
// a leaked key may have made more with it before an operator noticed.
//
// Only root's owner's keys are read and followed. A principal without
// AdminScope makes keys of its own owner only, so this finds them all; an
// admin key may make keys for any owner, and those of other owners are
// not followed (their created_by still names it). The order is breadth
// first: the keys root made, then the keys those made.
func (h *handler) descendants(ctx context.Context, root apikey.Key) ([]apikey.Key, error) {
	byID := map[string]apikey.Key{root.ID: root}
	made := map[string][]string{}
	cursor := ""
	for {
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: root.Owner, After: cursor, Limit: apikey.MaxListLimit})
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			if k.ID != root.ID {
				byID[k.ID] = k
			}
			if k.CreatedBy != "" {
				made[k.CreatedBy] = append(made[k.CreatedBy], k.ID)
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	var out []apikey.Key
	seen := map[string]bool{root.ID: true}
	for queue := []string{root.ID}; len(queue) > 0; queue = queue[1:] {
		k := byID[queue[0]]
		next := made[k.ID]
		if k.RotatedTo != "" {
			next = append([]string{k.RotatedTo}, next...)
		}
		for _, id := range next {
			d, ok := byID[id] // not there: revoked, or another owner's
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, d)
			queue = append(queue, id)
		}
	}
	return out, nil
}

// descendantsAgain reads root's descendants that p may manage once more,
// after root was disabled: those read before were for the check that an
// admin key is left, and root's holder may have made another key in
// between. A disabled root makes no more (on this store; see the package
// documentation for other processes' caches).
func (h *handler) descendantsAgain(ctx context.Context, p apikey.Principal, root apikey.Key) ([]apikey.Key, error) {
	all, err := h.descendants(ctx, root)
	if err != nil {
		return nil, err
	}
	return h.manageable(p, all), nil
}

// manageable returns the keys of keys that p may manage; the others are
// left out as a list leaves them out, so nobody learns of them.
func (h *handler) manageable(p apikey.Principal, keys []apikey.Key) []apikey.Key {
	var out []apikey.Key
	for _, k := range keys {
		if h.authorize(p, k) {
			out = append(out, k)
		}
	}
	return out
}

// disableAll disables keys on p's behalf, as a PATCH with enabled false
// would, and returns them as stored. A key revoked meanwhile is skipped.
func (h *handler) disableAll(ctx context.Context, p apikey.Principal, keys []apikey.Key) ([]apikey.Key, error) {
	out := make([]apikey.Key, 0, len(keys))
	for _, k := range keys {
		got, err := h.m.Update(ctx, k.ID, disableChanges(p)...)
		if errors.Is(err, apikey.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, got)
	}
	return out, nil
}

// disableChanges are the changes that disable a key on p's behalf. An
// admin's disable takes over any earlier one: SetEnabled(true) clears the
// disabler and DisableBy records the admin's key, in one atomic Update, so
// the key is never stored enabled in between. Anyone else's leaves an
// earlier disable as it is (the first one stands), so it cannot take over
// an admin's disable and then undo it as its own.
func disableChanges(p apikey.Principal) []apikey.KeyChange {
	if p.HasScope(apikey.AdminScope) {
		return []apikey.KeyChange{apikey.SetEnabled(true), apikey.DisableBy(keyRef(p))}
	}
	return []apikey.KeyChange{apikey.DisableBy(keyRef(p))}
}

// cascadeParam reads ?cascade= of a PATCH or DELETE, which takes no other
// query parameter: a misspelt one ignored would leave a leaked key's
// descendants working. It answers 400 and returns false for anything else.
func cascadeParam(w http.ResponseWriter, r *http.Request) (cascade, ok bool) {
	q := r.URL.Query()
	for name := range q {
		if name != "cascade" {
			writeError(w, http.StatusBadRequest, "unknown query parameter "+strconv.Quote(name)+"; use cascade")
			return false, false
		}
	}
	switch v := q["cascade"]; {
	case len(v) == 0 || len(v) == 1 && v[0] == "false":
		return false, true
	case len(v) == 1 && v[0] == "true":
		return true, true
	}
	writeError(w, http.StatusBadRequest, "cascade must be true or false")
	return false, false
}

// listDescendants answers GET keys/{id}/descendants: the keys the key made
// that p may manage, as the confirmation before a disable or revoke
// shows them.
func (h *handler) listDescendants(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	desc, err := h.descendants(r.Context(), k)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Keys: toJSONs(h.manageable(p, desc))})
}

// rotationChain returns the keys of k's rotation chain that p may manage,
// oldest first: the keys rotated, one into the next, into k (a key's
// predecessor is the key whose RotatedTo names it), k itself, and the
// keys k was rotated into (RotatedTo, then theirs). A rotation keeps the
// owner, so only k's owner's keys are read: one store query per 1,000
// of them. The chain stops at a key since revoked, and at one p may not
// manage, which it does not show.
func (h *handler) rotationChain(ctx context.Context, p apikey.Principal, k apikey.Key) ([]apikey.Key, error) {
	byID := map[string]apikey.Key{}
	from := map[string]string{} // a key's ID -> the ID of the key rotated into it
	cursor := ""
	for {
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: k.Owner, After: cursor, Limit: apikey.MaxListLimit})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Keys {
			byID[o.ID] = o
			if o.RotatedTo != "" {
				from[o.RotatedTo] = o.ID
			}
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	seen := map[string]bool{k.ID: true}
	var chain []apikey.Key
	for id := from[k.ID]; id != "" && !seen[id]; id = from[id] {
		o, ok := byID[id]
		if !ok || !h.authorize(p, o) {
			break
		}
		seen[id] = true
		chain = append(chain, o)
	}
	slices.Reverse(chain)
	chain = append(chain, k)
	for id := k.RotatedTo; id != "" && !seen[id]; {
		o, ok := byID[id]
		if !ok || !h.authorize(p, o) {
			break
		}
		seen[id] = true
		chain = append(chain, o)
		id = o.RotatedTo
	}
	return chain, nil
}

// listRotations answers GET keys/{id}/rotations: the key's rotation
// chain, oldest first, as the page shows it on the key's own page.
func (h *handler) listRotations(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	chain, err := h.rotationChain(r.Context(), p, k)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Keys: toJSONs(chain)})
}
