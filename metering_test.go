package apikey_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// Several named limits on one key: a request is admitted only when every
// limit has room; a refused one counts against none; the headers describe
// the limit closest to refusal, and Retry-After the time until every
// exhausted limit has room again.
func TestNamedLimits(t *testing.T) {
	clock := newFakeClock() // 12:00:00, on a minute and an hour
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, _ := mustCreate(t, m, apikey.NewKey{RateLimits: []apikey.RateLimit{
		{Name: "burst", Limit: 2, Window: time.Second},
		{Name: "hourly", Limit: 3, Window: time.Hour},
	}})
	h := m.Middleware()(whoami)
	req := func() *http.Response {
		w := serve(h, get("/", "X-API-Key", plain))
		return w.Result()
	}
	r := req()
	require.Equal(t, 200, r.StatusCode)
	assert.Equal(t, "2", r.Header.Get("RateLimit-Limit"), "burst is closest to refusal: 1 of 2 left")
	assert.Equal(t, "1", r.Header.Get("RateLimit-Remaining"))
	require.Equal(t, 200, req().StatusCode)
	r = req()
	require.Equal(t, 429, r.StatusCode, "the burst limit is full")
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	clock.Advance(time.Second)
	r = req()
	require.Equal(t, 200, r.StatusCode, "the refused request counted against the hourly limit neither")
	assert.Equal(t, "3", r.Header.Get("RateLimit-Limit"), "now the hourly limit is closest: 0 of 3 left")
	assert.Equal(t, "0", r.Header.Get("RateLimit-Remaining"))
	clock.Advance(time.Second)
	r = req()
	require.Equal(t, 429, r.StatusCode)
	assert.Equal(t, "3598", r.Header.Get("Retry-After"), "until the hour's window ends")

	_, err := m.Verify(context.Background(), plain)
	var rl *apikey.RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, "hourly", rl.Status.Name)
	assert.Contains(t, err.Error(), "(hourly)")
}

// A route's cost is counted by the limits and the uses alike; a cost that
// does not fit is refused and spends nothing.
func TestCost(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := newSpyStore()
	m := newManager(t, store, apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 12, RateLimit: apikey.RateLimit{Limit: 10, Window: time.Minute}})
	search := m.Middleware(apikey.WithCost(func(*http.Request) int { return 5 }))(whoami)
	cheap := m.Middleware()(whoami)
	do := func(h http.Handler) int { return serve(h, get("/", "X-API-Key", plain)).Code }

	require.Equal(t, 200, do(search)) // 5 of 10 a minute, 7 uses left
	require.Equal(t, 200, do(search)) // 10 of 10, 2 uses left
	require.Equal(t, 429, do(cheap), "the minute's limit is spent")
	clock.Advance(time.Minute)
	require.Equal(t, 402, do(search), "5 uses do not fit in 2")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), *got.RemainingUses, "and spent none")
	require.Equal(t, 200, do(cheap))
	require.Equal(t, 200, do(cheap))
	require.Equal(t, 402, do(cheap))
	w := serve(cheap, get("/", "X-API-Key", plain))
	assert.Equal(t, apikey.ErrorBody{Code: -1, Msg: "API key usage limit reached"}, body(t, w))
}

// Bad limits are refused, naming the limit.
func TestNamedLimitsRefused(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore())
	for name, limits := range map[string][]apikey.RateLimit{
		"no name":      {{Limit: 1, Window: time.Second}},
		"zero window":  {{Name: "burst", Limit: 1}},
		"negative":     {{Name: "burst", Limit: -1, Window: time.Second}},
		"same name":    {{Name: "a", Limit: 1, Window: time.Second}, {Name: "a", Limit: 2, Window: time.Hour}},
		"control char": {{Name: "a\n", Limit: 1, Window: time.Second}},
	} {
		_, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "a", RateLimits: limits})
		require.ErrorIs(t, err, apikey.ErrInvalidInput, name)
		_, err = m.Update(context.Background(), "x", apikey.SetRateLimits(limits...))
		require.ErrorIs(t, err, apikey.ErrInvalidInput, name)
	}
	_, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "a", RateLimits: []apikey.RateLimit{{Name: "burst", Limit: 1, Window: 0}}})
	assert.Contains(t, err.Error(), `"burst"`)
}

// Credits that refill: a key with a daily refill spends its uses, is
// refused with 402 and a Retry-After until 00:00 UTC, and has its uses
// again the next day, counted in UsesSpent.
func TestRefill(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock() // 2026-11-25 12:00 UTC
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{Refill: &apikey.Refill{Amount: 2, Interval: apikey.RefillDaily}})
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(2), *k.RemainingUses, "starts with the refill's amount")
	h := m.Middleware()(whoami)
	for range 2 {
		require.Equal(t, 200, serve(h, get("/", "X-API-Key", plain)).Code)
	}
	w := serve(h, get("/", "X-API-Key", plain))
	require.Equal(t, 402, w.Code)
	assert.Equal(t, "43200", w.Header().Get("Retry-After"), "12 hours, until 00:00 UTC")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, apikey.StateExhausted, got.State(clock.Now()))
	assert.Equal(t, apikey.StateEnabled, got.State(clock.Now().Add(12*time.Hour)), "its uses come back at midnight")

	clock.Advance(12 * time.Hour)
	require.Equal(t, 200, serve(h, get("/", "X-API-Key", plain)).Code)
	got, err = m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), *got.RemainingUses)
	assert.Equal(t, int64(3), got.UsesSpent)

	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "a", Refill: &apikey.Refill{Amount: 1, Interval: "hourly"}})
	require.ErrorIs(t, err, apikey.ErrInvalidInput)
	assert.Contains(t, err.Error(), "Refill.Interval")
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "a", Refill: &apikey.Refill{Amount: 0, Interval: apikey.RefillDaily}})
	assert.ErrorContains(t, err, "Refill.Amount")
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "a", Refill: &apikey.Refill{Amount: 1, Interval: apikey.RefillMonthly, Day: 32}})
	assert.ErrorContains(t, err, "Refill.Day")
}

// Refill periods are UTC days, and UTC months from a day that short
// months clamp to their last day.
func TestRefillPeriods(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return tm
	}
	daily := apikey.Refill{Amount: 1, Interval: apikey.RefillDaily}
	assert.Equal(t, at("2026-03-07T00:00:00Z"), daily.PeriodStart(at("2026-03-07T23:59:59Z")))
	assert.Equal(t, at("2026-03-08T00:00:00Z"), daily.NextRefill(at("2026-03-07T23:59:59Z")))
	assert.Equal(t, at("2026-03-06T00:00:00Z"), daily.PeriodStart(at("2026-03-07T01:00:00+05:00")), "UTC, whatever the zone: 20:00 UTC the day before")
	m31 := apikey.Refill{Amount: 1, Interval: apikey.RefillMonthly, Day: 31}
	for now, want := range map[string][2]string{
		"2026-02-15T00:00:00Z": {"2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z"},
		"2026-02-28T00:00:00Z": {"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"},
		"2026-03-30T12:00:00Z": {"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"},
		"2024-02-29T08:00:00Z": {"2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"},
		"2026-04-30T00:00:00Z": {"2026-04-30T00:00:00Z", "2026-05-31T00:00:00Z"},
	} {
		assert.Equal(t, at(want[0]), m31.PeriodStart(at(now)), "start of the period of %s", now)
		assert.Equal(t, at(want[1]), m31.NextRefill(at(now)), "next refill after %s", now)
	}
	m1 := apikey.Refill{Amount: 1, Interval: apikey.RefillMonthly, Day: 1}
	assert.Equal(t, at("2026-01-01T00:00:00Z"), m1.PeriodStart(at("2026-01-31T23:00:00Z")))
	assert.Equal(t, at("2027-01-01T00:00:00Z"), m1.NextRefill(at("2026-12-15T00:00:00Z")))
}
