package admin_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// A key without the admin scope that sets its own remaining_uses may only
// lower the count as stored when the change is written: uses its own
// requests spend while the PATCH runs do not come back. (Found by review:
// the PATCH checked the count it had read and then wrote its value
// outright, so a usage-limited key never ran out.)
func TestOwnKeyCannotRefundItsUses(t *testing.T) {
	e := newEnv(t)
	plain, id := e.Create(apikey.NewKey{Owner: "alice", Name: "metered", MaxUses: 10})
	var once atomic.Bool
	served := 0
	hook := func(got string) {
		if got != id || !once.CompareAndSwap(false, true) {
			return
		}
		// Requests with the same key while the PATCH is between its
		// bounds check and its write.
		for range 5 {
			if e.Do("GET", "/", plain, "").Status == 200 {
				served++
			}
		}
	}
	e.Store.BeforeUpdate.Store(&hook)
	// The PATCH itself spends one use: 9 are left when it is checked.
	r := e.Do("PATCH", "/admin/keys/"+id, plain, `{"remaining_uses":9}`)
	e.Store.BeforeUpdate.Store(nil)
	require.Equal(t, 409, r.Status, r.Body)
	assert.Contains(t, r.Body, "has only 4 uses left")
	require.Equal(t, 5, served)
	k, err := e.Keys.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, int64(4), *k.RemainingUses, "10 uses, 6 spent: 4 left, none given back")

	// Lowering its own count still works (this PATCH spends one: 3 left).
	r = e.Do("PATCH", "/admin/keys/"+id, plain, `{"remaining_uses":2}`)
	require.Equal(t, 200, r.Status, r.Body)
	k, err = e.Keys.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, int64(2), *k.RemainingUses)
}
