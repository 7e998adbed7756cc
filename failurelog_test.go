package apikey_test

import (
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

var errDatabaseDown = errors.New("dial tcp 10.0.0.5:5432: connect: connection refused")

// Review finding (stage 2, 7): with the database gone, every request was
// 503 and nothing was logged unless the user wired an observer. Now the
// Manager's logger says why, one line per cause per interval, with a count.
func TestUnavailableIsLoggedOncePerInterval(t *testing.T) {
	var out testkit.LogLines
	clock := newFakeClock()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithClock(clock.Now), apikey.WithLimiter(brokenLimiter{}),
		apikey.WithLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	plain, _ := mustCreate(t, m, apikey.NewKey{})
	limited, _ := mustCreate(t, m, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 10, Window: time.Second}})
	h := m.Middleware()(whoami)

	store.FailWith(errDatabaseDown)
	for range 50 {
		require.Equal(t, http.StatusServiceUnavailable, serve(h, get("/", "X-API-Key", plain)).Code)
	}
	recs := out.Records(t)
	require.Len(t, recs, 1, "the first failure is logged at once, the rest wait for the interval")
	assert.Equal(t, "ERROR", recs[0]["level"])
	assert.Equal(t, "key lookup", recs[0]["cause"])
	assert.Contains(t, recs[0]["error"], errDatabaseDown.Error())
	assert.EqualValues(t, 1, recs[0]["failures"])

	clock.Advance(10 * time.Second)
	require.Equal(t, http.StatusServiceUnavailable, serve(h, get("/", "X-API-Key", plain)).Code)
	recs = out.Records(t)
	require.Len(t, recs, 2)
	assert.EqualValues(t, 50, recs[1]["failures"], "49 held back and this one")

	// Another cause has its own line; Close logs what is held back.
	store.Heal()
	for range 3 {
		require.Equal(t, http.StatusServiceUnavailable, serve(h, get("/", "X-API-Key", limited)).Code)
	}
	store.FailWith(errDatabaseDown)
	require.Equal(t, http.StatusServiceUnavailable, serve(h, get("/", "X-API-Key", plain)).Code)
	require.NoError(t, m.Close())
	recs = out.Records(t)
	require.Len(t, recs, 5)
	assert.Equal(t, "rate limiter", recs[2]["cause"])
	assert.EqualValues(t, 1, recs[2]["failures"])
	byCause := map[string]any{recs[3]["cause"].(string): recs[3]["failures"], recs[4]["cause"].(string): recs[4]["failures"]}
	assert.Equal(t, map[string]any{"rate limiter": 2.0, "key lookup": 1.0}, byCause, "Close logs the failures held back")
	for _, r := range recs {
		assert.NotContains(t, r["error"], plain[len(plain)-12:], "no key in the log")
	}
}
