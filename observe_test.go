package apikey_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request refused by RequireScopes is a decision the observer sees, after
// the middleware's own.
func TestObserverSeesScopeRefusal(t *testing.T) {
	var mu sync.Mutex
	var events []apikey.Event
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithObserver(func(_ context.Context, e apikey.Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}))
	plain, k := mustCreate(t, m, apikey.NewKey{Scopes: []string{"bots:read"}})
	h := m.Middleware()(apikey.RequireScopes("bots:write")(whoami))
	require.Equal(t, http.StatusForbidden, serve(h, get("/", "X-API-Key", plain)).Code)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, events, 2)
	assert.NoError(t, events[0].Err, "the key itself is valid")
	assert.Equal(t, k.ID, events[1].KeyID)
	assert.Equal(t, "alice", events[1].Owner)
	assert.ErrorIs(t, events[1].Err, apikey.ErrInsufficientScope)
}
