package apikeytest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// TestLimiter runs the Limiter conformance suite against limiters made by
// newLimiter, one fresh limiter per subtest (or one whose bucket IDs
// never meet another subtest's: each subtest uses IDs of its own). Two
// limiters it makes for one subtest must count together when the limiter
// is shared across processes (as Redis is); shared reports whether they
// do, so the suite can check that they never admit more than a limit
// between them.
func TestLimiter(t *testing.T, newLimiter func(t *testing.T) apikey.Limiter, shared bool) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, l apikey.Limiter)
	}{
		{"OneLimit", testLimiterOne},
		{"SeveralLimitsAllOrNone", testLimiterSeveral},
		{"Cost", testLimiterCost},
		{"HugeCost", testLimiterHugeCost},
		{"RefusedCountsNothing", testLimiterRefusedCountsNothing},
		{"ExactUnderRaces", testLimiterRaces},
		{"InvalidInput", testLimiterInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newLimiter(t)) })
	}
	if shared {
		t.Run("SharedAcrossLimiters", func(t *testing.T) { testLimiterShared(t, newLimiter(t), newLimiter(t)) })
	}
}

var limitIDs atomic.Int64

// limitID returns a bucket ID no other subtest uses.
func limitID() string { return fmt.Sprintf("apikeytest-%d-%d", time.Now().UnixNano(), limitIDs.Add(1)) }

// limitBase is inside a one-hour window, 10 minutes before it ends.
var limitBase = time.Date(2026, 5, 6, 7, 50, 0, 0, time.UTC)

func allow(t *testing.T, l apikey.Limiter, buckets []apikey.Bucket, cost int, now time.Time) apikey.LimitStatus {
	t.Helper()
	st, err := l.Allow(context.Background(), buckets, cost, now)
	require.NoError(t, err)
	return st
}

func testLimiterOne(t *testing.T, l apikey.Limiter) {
	b := []apikey.Bucket{{ID: limitID(), Limit: apikey.RateLimit{Limit: 3, Window: time.Hour}}}
	for i := range 3 {
		st := allow(t, l, b, 1, limitBase)
		require.True(t, st.Allowed, "request %d", i+1)
		assert.Equal(t, 3, st.Limit)
		assert.Equal(t, 2-i, st.Remaining)
		assert.Equal(t, 10*time.Minute, st.Reset)
	}
	st := allow(t, l, b, 1, limitBase.Add(time.Minute))
	assert.False(t, st.Allowed)
	assert.Equal(t, 0, st.Remaining)
	assert.Equal(t, 9*time.Minute, st.Reset, "room again when the window ends")
	st = allow(t, l, b, 1, limitBase.Add(10*time.Minute))
	assert.True(t, st.Allowed, "a new window")
	assert.Equal(t, 2, st.Remaining)
}

func testLimiterSeveral(t *testing.T, l apikey.Limiter) {
	id := limitID()
	burst := apikey.RateLimit{Name: "burst", Limit: 2, Window: time.Second}
	daily := apikey.RateLimit{Name: "daily", Limit: 3, Window: 24 * time.Hour}
	b := []apikey.Bucket{{ID: id, Limit: burst}, {ID: id, Limit: daily}}
	now := limitBase
	st := allow(t, l, b, 1, now)
	require.True(t, st.Allowed)
	assert.Equal(t, "burst", st.Name, "closest to refusal: 1 of 2 left, against 2 of 3")
	assert.Equal(t, 1, st.Remaining)
	require.True(t, allow(t, l, b, 1, now).Allowed)
	st = allow(t, l, b, 1, now)
	require.False(t, st.Allowed, "the burst limit is full")
	assert.Equal(t, "burst", st.Name)
	assert.Equal(t, time.Second, st.Reset)
	st = allow(t, l, b, 1, now.Add(time.Second))
	require.True(t, st.Allowed, "a new second, and the refused request counted against the day's limit neither")
	assert.Equal(t, "daily", st.Name)
	assert.Equal(t, 0, st.Remaining)
	st = allow(t, l, b, 1, now.Add(2*time.Second))
	require.False(t, st.Allowed, "the day's limit is full")
	assert.Equal(t, "daily", st.Name)
	_, dayEnd := now.Truncate(24*time.Hour), now.Truncate(24*time.Hour).Add(24*time.Hour)
	assert.Equal(t, dayEnd.Sub(now.Add(2*time.Second)), st.Reset, "room again when the day ends")
}

func testLimiterCost(t *testing.T, l apikey.Limiter) {
	b := []apikey.Bucket{{ID: limitID(), Limit: apikey.RateLimit{Limit: 10, Window: time.Hour}}}
	st := allow(t, l, b, 6, limitBase)
	require.True(t, st.Allowed)
	assert.Equal(t, 4, st.Remaining)
	st = allow(t, l, b, 5, limitBase)
	require.False(t, st.Allowed, "5 do not fit in 4")
	assert.Equal(t, 4, st.Remaining, "and spend nothing")
	require.True(t, allow(t, l, b, 4, limitBase).Allowed, "4 fit")
	require.False(t, allow(t, l, b, 1, limitBase).Allowed)
}

// A cost near the largest int has no room in any limit, whatever the
// bucket has counted: it must not wrap the count around and be admitted,
// and the refusal says when the bucket has room (never, within the
// window: its end).
func testLimiterHugeCost(t *testing.T, l apikey.Limiter) {
	b := []apikey.Bucket{{ID: limitID(), Limit: apikey.RateLimit{Limit: 10, Window: time.Hour}}}
	require.True(t, allow(t, l, b, 1, limitBase).Allowed)
	for _, cost := range []int{math.MaxInt, math.MaxInt - 1, math.MaxInt - 9} {
		st := allow(t, l, b, cost, limitBase)
		require.False(t, st.Allowed, "a cost of %d does not fit in 9", cost)
		assert.Equal(t, 9, st.Remaining, "and spends nothing")
		assert.Equal(t, 10*time.Minute, st.Reset, "room again when the window ends")
	}
	for range 9 {
		require.True(t, allow(t, l, b, 1, limitBase).Allowed)
	}
	require.False(t, allow(t, l, b, 1, limitBase).Allowed, "the limit still holds")
}

func testLimiterRefusedCountsNothing(t *testing.T, l apikey.Limiter) {
	id := limitID()
	small := apikey.Bucket{ID: id, Limit: apikey.RateLimit{Name: "small", Limit: 1, Window: time.Hour}}
	big := apikey.Bucket{ID: id, Limit: apikey.RateLimit{Name: "big", Limit: 100, Window: 2 * time.Hour}}
	require.True(t, allow(t, l, []apikey.Bucket{small, big}, 1, limitBase).Allowed)
	for range 10 {
		require.False(t, allow(t, l, []apikey.Bucket{small, big}, 1, limitBase).Allowed)
	}
	st := allow(t, l, []apikey.Bucket{big}, 1, limitBase)
	require.True(t, st.Allowed)
	assert.Equal(t, 98, st.Remaining, "the 10 refused requests counted against the big limit neither")
}

func testLimiterRaces(t *testing.T, l apikey.Limiter) {
	id := limitID()
	b := []apikey.Bucket{
		{ID: id, Limit: apikey.RateLimit{Name: "a", Limit: 50, Window: time.Hour}},
		{ID: id, Limit: apikey.RateLimit{Name: "b", Limit: 1000, Window: 2 * time.Hour}},
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				st, err := l.Allow(context.Background(), b, 1, limitBase)
				if assert.NoError(t, err) && st.Allowed {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(50), ok.Load(), "exactly the limit, whatever the interleaving")
	st := allow(t, l, b[1:], 1, limitBase)
	assert.Equal(t, 1000-51, st.Remaining, "the refused requests counted against no limit")
}

func testLimiterInvalid(t *testing.T, l apikey.Limiter) {
	ok := apikey.Bucket{ID: limitID(), Limit: apikey.RateLimit{Limit: 1, Window: time.Hour}}
	for name, tc := range map[string]struct {
		buckets []apikey.Bucket
		cost    int
	}{
		"no buckets":   {nil, 1},
		"cost 0":       {[]apikey.Bucket{ok}, 0},
		"no ID":        {[]apikey.Bucket{{Limit: ok.Limit}}, 1},
		"no limit":     {[]apikey.Bucket{{ID: ok.ID}}, 1},
		"no window":    {[]apikey.Bucket{{ID: ok.ID, Limit: apikey.RateLimit{Limit: 1}}}, 1},
		"limit of 0":   {[]apikey.Bucket{{ID: ok.ID, Limit: apikey.RateLimit{Window: time.Hour}}}, 1},
		"window < 1ms": {[]apikey.Bucket{{ID: ok.ID, Limit: apikey.RateLimit{Limit: 1, Window: time.Microsecond}}}, 1},
	} {
		_, err := l.Allow(context.Background(), tc.buckets, tc.cost, limitBase)
		assert.ErrorIs(t, err, apikey.ErrInvalidInput, name)
	}
}

func testLimiterShared(t *testing.T, a, b apikey.Limiter) {
	id := limitID()
	bk := []apikey.Bucket{
		{ID: id, Limit: apikey.RateLimit{Name: "a", Limit: 40, Window: time.Hour}},
		{ID: id, Limit: apikey.RateLimit{Name: "b", Limit: 500, Window: 24 * time.Hour}},
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for _, l := range []apikey.Limiter{a, b} {
		for range 4 {
			wg.Go(func() {
				for range 20 {
					st, err := l.Allow(context.Background(), bk, 1, limitBase)
					if assert.NoError(t, err) && st.Allowed {
						ok.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	assert.Equal(t, int64(40), ok.Load(), "two limiters sharing counts admit the limit between them, no more")
}
