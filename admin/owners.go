package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// ownerJSON is an owner's policy as the API shows it, the same form the
// apikey command prints.
type ownerJSON = keyjson.Owner

// ownerRequest is the body of PUT owners/{owner}: the whole policy, which
// replaces the owner's (its spent count and refill period are kept).
// remaining_uses null with no refill shares no uses (with one, the
// policy starts with its amount). Left out, it keeps the uses the owner
// has, so a policy can be changed without giving back what its keys
// spent since it was read; for a new policy, it is as null.
type ownerRequest struct {
	RateLimits    []rateLimitJSON `json:"rate_limits"`
	RemainingUses optional[int64] `json:"remaining_uses"`
	Refill        *keyjson.Refill `json:"refill"`
	MaxKeys       int             `json:"max_keys"`
}

// owners answers GET owners: every policy for an admin, the principal's
// own owner's (if it has one) for anyone else.
func (h *handler) owners(w http.ResponseWriter, r *http.Request, p apikey.Principal) {
	list, err := h.m.OwnerPolicies(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []ownerJSON{}
	for _, o := range list {
		if p.HasScope(apikey.AdminScope) || (p.Owner != "" && o.Owner == p.Owner) {
			out = append(out, keyjson.FromOwner(o, time.Now()))
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Owners []ownerJSON `json:"owners"`
	}{out})
}

// owner answers GET, PUT and DELETE owners/{owner}. Anyone may read the
// policy of its own owner; only an admin reads another's, and only an
// admin sets or removes one, since a policy is the budget the owner's keys
// spend.
func (h *handler) owner(w http.ResponseWriter, r *http.Request, p apikey.Principal, escaped string) {
	owner, err := url.PathUnescape(escaped)
	if err != nil || owner == "" {
		writeError(w, http.StatusBadRequest, "The owner in the path is not valid percent-encoding")
		return
	}
	admin := p.HasScope(apikey.AdminScope)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !admin && (p.Owner == "" || owner != p.Owner) {
			writeError(w, http.StatusNotFound, msgNoPolicy)
			return
		}
		o, err := h.m.OwnerPolicy(r.Context(), owner)
		if err != nil {
			h.failOwner(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, keyjson.FromOwner(o, time.Now()))
	case http.MethodPut:
		if !admin {
			writeError(w, http.StatusForbidden, "Only an admin key may set an owner's policy")
			return
		}
		var req ownerRequest
		if !decodeBody(w, r, &req, false) {
			return
		}
		pol := apikey.OwnerPolicy{Owner: owner, MaxKeys: req.MaxKeys}
		var old *apikey.OwnerPolicy
		if o, err := h.m.OwnerPolicy(r.Context(), owner); err == nil {
			// Its uses as they are now, a refill due counted.
			o.RemainingUses = keyjson.FromOwner(o, time.Now()).RemainingUses
			old = &o
		} else if !errors.Is(err, apikey.ErrNotFound) {
			h.failOwner(w, r, err)
			return
		}
		switch {
		case req.RemainingUses.Set && !req.RemainingUses.Null:
			pol.RemainingUses = &req.RemainingUses.V
		case !req.RemainingUses.Set && old != nil:
			// Kept as they are now: the policy set counts as refilled for
			// the current period (SetOwnerPolicy). Uses spent between
			// this read and the write come back.
			pol.RemainingUses = old.RemainingUses
		}
		if pol.RateLimits, err = parseRateLimits("rate_limits", req.RateLimits); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Refill != nil {
			pol.Refill = keyjson.ToRefill(*req.Refill)
		}
		// A policy limits every key of the owner, its admin keys too: one
		// that may lock out the last of them is refused, as a limit on the
		// key itself would be.
		gone, err := h.ownerAdminsGone(r.Context(), old, pol)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if !h.guard(w, r, p, gone, nil) {
			return
		}
		o, err := h.m.SetOwnerPolicy(r.Context(), pol)
		if err != nil {
			h.failOwner(w, r, err)
			return
		}
		undo := func(ctx context.Context) error {
			if old == nil {
				return h.m.DeleteOwnerPolicy(ctx, owner)
			}
			_, err := h.m.SetOwnerPolicy(ctx, *old)
			return err
		}
		if !h.guard(w, r, p, gone, undo) {
			return
		}
		writeJSON(w, http.StatusOK, keyjson.FromOwner(o, time.Now()))
	case http.MethodDelete:
		if !admin {
			writeError(w, http.StatusForbidden, "Only an admin key may remove an owner's policy")
			return
		}
		if err := h.m.DeleteOwnerPolicy(r.Context(), owner); err != nil {
			h.failOwner(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		methodNotAllowed(w, "GET, HEAD, PUT, DELETE")
	}
}

const msgNoPolicy = "No policy for this owner"

// ownerAdminsGone returns the usable admin keys of the owner of after
// when after limits its keys more than before did (nil: no policy), as
// restricts judges a key's own limits: they count as gone.
func (h *handler) ownerAdminsGone(ctx context.Context, before *apikey.OwnerPolicy, after apikey.OwnerPolicy) (map[string]bool, error) {
	var was apikey.Key
	if before != nil {
		was = apikey.Key{RateLimits: before.RateLimits, RemainingUses: before.RemainingUses, Refill: before.Refill}
	}
	will := apikey.Key{RateLimits: after.RateLimits, RemainingUses: after.RemainingUses, Refill: after.Refill}
	if will.RemainingUses == nil && will.Refill != nil {
		will.RemainingUses = &will.Refill.Amount // as SetOwnerPolicy stores it
	}
	if !restricts(was, will) {
		return nil, nil
	}
	now := time.Now()
	var gone map[string]bool
	cursor := ""
	for {
		page, err := h.m.List(ctx, apikey.ListOptions{Owner: after.Owner, After: cursor, Limit: apikey.MaxListLimit})
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			if usableAdmin(k, now) && k.RotatedTo == "" {
				if gone == nil {
					gone = map[string]bool{}
				}
				gone[k.ID] = true
			}
		}
		if page.Next == "" {
			return gone, nil
		}
		cursor = page.Next
	}
}

// failOwner answers a failed owner request: what ErrNotFound means there
// (no policy, or no keys to set one for), the rest as fail does.
func (h *handler) failOwner(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, apikey.ErrNotFound) {
		// "owner "carol" has no keys", not "key not found: owner ...".
		writeError(w, http.StatusNotFound, strings.TrimPrefix(errorText(err), strings.TrimPrefix(apikey.ErrNotFound.Error(), "apikey: ")+": "))
		return
	}
	h.fail(w, r, err)
}
