package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-apikey/apikey"
)

// create answers POST keys. A principal without AdminScope gets a key
// within its own key's bounds (see bounds.exceeded), or 403.
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
	nk.CreatedBy = keyRef(p)
	scopes, err := apikey.CleanScopes(nk.Scopes)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Ask about the key as it would be stored, before storing it.
	k := apikey.Key{Owner: nk.Owner, Name: nk.Name, Description: nk.Description,
		Scopes: scopes, Metadata: nk.Metadata, Enabled: true, ExpiresAt: nk.ExpiresAt.UTC().Truncate(time.Microsecond),
		RateLimit: nk.RateLimit, RateLimits: nk.RateLimits, AllowedIPs: nk.AllowedIPs, Refill: nk.Refill}
	switch {
	case nk.MaxUses > 0:
		k.RemainingUses = &nk.MaxUses
	case nk.Refill != nil:
		k.RemainingUses = &nk.Refill.Amount
	}
	if !h.authorize(p, k) {
		writeError(w, http.StatusForbidden, "You may not create this key: it is for another owner or grants a scope you lack")
		return
	}
	b, err := h.boundsOf(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if msg := b.exceeded(k); msg != "" {
		writeError(w, http.StatusForbidden, "You may not create this key: "+msg)
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

// patch answers PATCH keys/{id}, and with ?cascade=true, which needs
// enabled false, disables the key's descendants too.
func (h *handler) patch(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	cascade, ok := cascadeParam(w, r)
	if !ok {
		return
	}
	var req patchRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	// A key without the admin scope changing its own count may only lower
	// it, as stored when the change is made: the bounds below read a count
	// that its own requests may spend meanwhile, and those uses must not
	// come back.
	own := id == p.KeyID && !p.HasScope(apikey.AdminScope)
	changes, apply, err := req.changes(own)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	disabling := req.Enabled.Set && !req.Enabled.V
	if cascade && !disabling {
		writeError(w, http.StatusBadRequest, "cascade disables the keys a key made: send enabled false with it")
		return
	}
	ctx := r.Context()
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	admin := p.HasScope(apikey.AdminScope)
	enabling := req.Enabled.Set && req.Enabled.V && !k.Enabled
	switch {
	case disabling:
		changes = append(changes, disableChanges(p)...)
	case enabling && admin:
		changes = append(changes, apikey.SetEnabled(true))
	case enabling:
		may, err := h.mayEnable(ctx, p, k)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !may {
			writeError(w, http.StatusForbidden, "An admin disabled this key (or a key you cannot vouch for did): only an admin may enable it again")
			return
		}
		// Only while its disabler is still that one: an admin's disable
		// made since k was read stands (ErrConflict, 409).
		changes = append(changes, apikey.EnableIfDisabledBy(k.DisabledBy))
	}
	// enabled true on an enabled key changes nothing: a SetEnabled(true)
	// would undo a disable made since k was read.
	if len(changes) == 0 {
		writeJSON(w, http.StatusOK, toJSON(k, time.Now()))
		return
	}
	// Ask about the key as the change would leave it.
	changed := k.Clone()
	apply(&changed)
	if req.Enabled.Set {
		changed.Enabled = req.Enabled.V
	}
	if !h.authorize(p, changed) {
		writeError(w, http.StatusForbidden, "You may not make this change: it grants a scope you lack")
		return
	}
	if req.limitsSet() || enabling {
		b, err := h.boundsOf(ctx, p)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if msg := b.exceeded(changed); msg != "" {
			writeError(w, http.StatusForbidden, "You may not make this change: "+msg)
			return
		}
		if b != nil {
			// Judged on k as read: stored only if no other change came
			// between (409), or two changes each within the bounds could
			// together go beyond them.
			changes = append(changes, apikey.IfUnchangedSince(k.UpdatedAt))
		}
	}
	var desc []apikey.Key
	if cascade {
		all, err := h.descendants(ctx, k)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		desc = h.manageable(p, all)
	}
	before := k
	gone := adminsGone(append([]apikey.Key{before}, desc...), map[string]apikey.Key{k.ID: changed})
	undo := func(ctx context.Context) error {
		if _, err := h.m.Update(ctx, id, req.restore(before)...); err != nil {
			return err
		}
		return h.enableAgain(ctx, desc, gone)
	}
	if !h.guard(w, r, p, gone, nil) {
		return
	}
	k, err = h.m.Update(ctx, id, changes...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cascade {
		if desc, err = h.descendantsAgain(ctx, p, k); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	disabled, err := h.disableAll(ctx, p, desc)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.guard(w, r, p, gone, undo) {
		return
	}
	if !cascade {
		writeJSON(w, http.StatusOK, toJSON(k, time.Now()))
		return
	}
	writeJSON(w, http.StatusOK, cascadeResponse{Key: ptr(toJSON(k, time.Now())), Disabled: toJSONs(disabled)})
}

// cascadeResponse answers a disable or revoke with ?cascade=true: the key
// (none after a revoke) and the keys it made, as disabled with it.
type cascadeResponse struct {
	Key      *keyJSON  `json:"key,omitempty"`
	Disabled []keyJSON `json:"disabled"`
}

func ptr[T any](v T) *T { return &v }

func toJSONs(keys []apikey.Key) []keyJSON {
	now := time.Now()
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toJSON(k, now)
	}
	return out
}

// mayEnable reports whether p, without AdminScope, may enable k, which is
// disabled: only when p's own key disabled it, or another key of k's
// owner without AdminScope did. A disable with no disabler is an
// operator's (Manager.Disable, the apikey command, an admin), and so is
// one by a key the store does not hold (a static key, or one revoked
// since), whose rank nobody can tell any more.
func (h *handler) mayEnable(ctx context.Context, p apikey.Principal, k apikey.Key) (bool, error) {
	switch {
	case k.DisabledBy == "":
		return false, nil
	case k.DisabledBy == p.KeyID:
		return true, nil
	}
	d, err := h.m.Get(ctx, k.DisabledBy)
	if errors.Is(err, apikey.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return d.Owner == k.Owner && !slices.Contains(d.Scopes, apikey.AdminScope), nil
}

// enableAgain enables the keys of desc in gone, which a cascade disabled
// and a later check found were the last admin keys.
func (h *handler) enableAgain(ctx context.Context, desc []apikey.Key, gone map[string]bool) error {
	for _, d := range desc {
		if gone[d.ID] {
			if _, err := h.m.Update(ctx, d.ID, apikey.SetEnabled(true)); err != nil && !errors.Is(err, apikey.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// guard keeps an admin able to sign in when a change takes usable admin
// keys away (gone: none means the change takes none). Before the change
// (undo nil), it answers 409 if no admin would be left. After it, it
// checks again, since another change at the same time may have taken the
// other admin key: then it runs undo and answers 409. It returns false
// when it answered.
func (h *handler) guard(w http.ResponseWriter, r *http.Request, p apikey.Principal, gone map[string]bool, undo func(context.Context) error) bool {
	if len(gone) == 0 {
		return true
	}
	ctx := r.Context()
	kept, err := h.adminKeptBy(ctx, p, gone)
	if err == nil && kept {
		return true
	}
	if undo != nil {
		// Undo whatever the check's failure: a store failure may leave no
		// admin as surely as a race, and the request's context must not
		// cut the undo short.
		if uerr := undo(context.WithoutCancel(ctx)); uerr != nil {
			h.logger.ErrorContext(ctx, "admin: undoing a change that left no admin key failed", "error", uerr)
			err = errors.Join(err, uerr)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return false
	}
	if undo != nil {
		writeError(w, http.StatusConflict, msgAdminRace)
	} else {
		writeError(w, http.StatusConflict, msgLastAdmin)
	}
	return false
}

// rotate answers POST keys/{id}/rotate. An expired key cannot be rotated
// (409), nor one already rotated (409). A principal without AdminScope
// may give at most WithMaxGrace's grace, and only rotate a key within its
// own bounds (the new key copies the old one). The new key's CreatedBy is
// the caller's key.
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
	if grace > h.maxGrace && !p.HasScope(apikey.AdminScope) {
		writeError(w, http.StatusForbidden, "grace "+graceText(grace)+" is longer than the "+graceText(h.maxGrace)+
			" a key without the admin scope may give: rotate with a shorter grace, or ask an admin")
		return
	}
	ctx := r.Context()
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	b, err := h.boundsOf(ctx, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if msg := b.exceeded(k); msg != "" {
		writeError(w, http.StatusForbidden, "You may not rotate this key, whose new key would go beyond your own: "+msg)
		return
	}
	// The new key records the caller, in the same write that stores it:
	// without the record it would escape a cascade from the caller's key.
	var made []apikey.KeyChange
	if ref := keyRef(p); ref != "" {
		made = append(made, apikey.SetCreatedBy(ref))
	}
	plain, next, err := h.m.Rotate(ctx, id, grace, made...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.authorize(p, next) || b.exceeded(next) != "" {
		// The key changed between find and Rotate (say, an admin granted
		// it a scope): p must not get a plaintext of what it may not see.
		if err := h.m.Revoke(context.WithoutCancel(ctx), next.ID); err != nil {
			h.fail(w, r, err)
			return
		}
		writeError(w, http.StatusConflict, "The key changed while it was rotated")
		return
	}
	w.Header().Set("Location", "../"+next.ID) // relative to keys/{id}/rotate
	writeJSON(w, http.StatusCreated, secretResponse{Plaintext: plain, Key: toJSON(next, time.Now())})
}

// revoke answers DELETE keys/{id}: 204. With ?cascade=true it disables the
// key's descendants too, and answers 200 with them. A revoke that needs
// checking (a cascade, or the key is a usable admin key) first disables
// the key, so that the key stops at once, a failure half way leaves it
// there to try again with, and a last admin key can be enabled again.
func (h *handler) revoke(w http.ResponseWriter, r *http.Request, p apikey.Principal, id string) {
	cascade, ok := cascadeParam(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	k, ok := h.find(w, r, p, id)
	if !ok {
		return
	}
	var desc []apikey.Key
	if cascade {
		all, err := h.descendants(ctx, k)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		desc = h.manageable(p, all)
	}
	gone := adminsGone(append([]apikey.Key{k}, desc...), nil)
	if !h.guard(w, r, p, gone, nil) {
		return
	}
	var disabled []apikey.Key
	if cascade || len(gone) > 0 {
		if _, err := h.m.Update(ctx, id, disableChanges(p)...); err != nil {
			h.fail(w, r, err)
			return
		}
		var err error
		if cascade {
			if desc, err = h.descendantsAgain(ctx, p, k); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		if disabled, err = h.disableAll(ctx, p, desc); err != nil {
			h.fail(w, r, err)
			return
		}
		undo := func(ctx context.Context) error {
			if gone[k.ID] {
				if _, err := h.m.Update(ctx, id, apikey.SetEnabled(true)); err != nil {
					return err
				}
			}
			return h.enableAgain(ctx, desc, gone)
		}
		if !h.guard(w, r, p, gone, undo) {
			return
		}
	}
	if err := h.m.Revoke(ctx, id); err != nil {
		h.fail(w, r, err)
		return
	}
	if !cascade {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, cascadeResponse{Disabled: toJSONs(disabled)})
}

// whoami answers GET whoami: the principal of the request, so the page can
// mark the key it is signed in with, and whether that key is the last
// usable admin key, which the page then offers no way to disable or
// delete (the API refuses it anyway: 409).
func (h *handler) whoami(w http.ResponseWriter, r *http.Request, p apikey.Principal) {
	resp := whoamiResponse{KeyID: p.KeyID, Owner: p.Owner, Name: p.Name, Scopes: p.Scopes(), Admin: p.HasScope(apikey.AdminScope)}
	if resp.Scopes == nil {
		resp.Scopes = []string{}
	}
	if !resp.Admin {
		resp.MaxGrace = ptr(graceText(h.maxGrace))
	}
	if resp.Admin && p.KeyID != "" {
		own, err := h.m.Get(r.Context(), p.KeyID)
		switch {
		case err == nil && usableAdmin(own, time.Now()):
			kept, err := h.adminKeptBy(r.Context(), p, map[string]bool{p.KeyID: true})
			if err != nil {
				h.fail(w, r, err)
				return
			}
			resp.LastAdminKey = !kept
		case err != nil && !errors.Is(err, apikey.ErrNotFound):
			h.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

type whoamiResponse struct {
	KeyID  string   `json:"key_id"`
	Owner  string   `json:"owner"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	Admin  bool     `json:"admin"`
	// LastAdminKey is true when the principal's key is the only usable
	// admin key in the store.
	LastAdminKey bool `json:"last_admin_key"`
	// MaxGrace is the longest rotation grace the principal may give (a
	// Go duration, WithMaxGrace), or nil for an admin, who has no bound.
	MaxGrace *string `json:"max_grace"`
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
		errors.Is(err, apikey.ErrDuplicate), errors.Is(err, apikey.ErrOwnerKeyLimit):
		writeError(w, http.StatusConflict, errorText(err))
	default:
		h.logger.ErrorContext(r.Context(), "admin: key store failed", "method", r.Method,
			"path", redactKeys(r.URL.Path), "error", redactKeys(err.Error()))
		writeError(w, http.StatusServiceUnavailable, "Service unavailable")
	}
}
