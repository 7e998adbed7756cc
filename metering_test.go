package apikey_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
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

// A key rotated with a grace period shares its rate limits with the key
// that replaced it: two live keys do not double the budget.
func TestRotationSharesRateLimits(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	old, k := mustCreate(t, m, apikey.NewKey{RateLimits: []apikey.RateLimit{{Name: "minute", Limit: 3, Window: time.Minute}}})
	next, _, err := m.Rotate(ctx, k.ID, time.Hour)
	require.NoError(t, err)
	for _, plain := range []string{old, next, old} {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}
	for _, plain := range []string{next, old} {
		_, err := m.Verify(ctx, plain)
		assert.ErrorIs(t, err, apikey.ErrRateLimited, "3 a minute between the two keys")
	}
	clock.Advance(time.Minute)
	_, err = m.Verify(ctx, next)
	assert.NoError(t, err)
}

// Rotating the new key while the old one is still in its grace must not
// give the chain a second budget: every key of a rotation chain that still
// works counts against one set of windows. (A key in grace counted against
// its successor's windows only; once the successor was rotated too, it
// counted against its own successor's, so the first key had a window all
// to itself: a holder rotating n times within a grace had n times its
// rate limit.)
func TestRotationChainSharesRateLimits(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	k0, k := mustCreate(t, m, apikey.NewKey{RateLimits: []apikey.RateLimit{{Name: "minute", Limit: 3, Window: time.Minute}}})
	k1, next, err := m.Rotate(ctx, k.ID, time.Hour)
	require.NoError(t, err)
	k2, _, err := m.Rotate(ctx, next.ID, time.Hour)
	require.NoError(t, err)
	served := 0
	for range 4 {
		for _, plain := range []string{k0, k1, k2} {
			if _, err := m.Verify(ctx, plain); err == nil {
				served++
			} else {
				require.ErrorIs(t, err, apikey.ErrRateLimited)
			}
		}
	}
	assert.Equal(t, 3, served, "3 a minute between the three keys")
}

// countingGets is a store that counts Get calls.
type countingGets struct {
	*apikey.MemoryStore
	n atomic.Int64
}

func (s *countingGets) Get(ctx context.Context, id string) (apikey.Key, error) {
	s.n.Add(1)
	return s.MemoryStore.Get(ctx, id)
}

// A key in grace finds its chain's end in the store once every few
// seconds, not on every request; a rotation by this Manager is seen at
// once.
func TestRotationChainIsRemembered(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &countingGets{MemoryStore: apikey.NewMemoryStore()}
	m := newManager(t, store, apikey.WithClock(clock.Now))
	k0, k := mustCreate(t, m, apikey.NewKey{RateLimits: []apikey.RateLimit{{Name: "minute", Limit: 100, Window: time.Minute}}})
	k1, next, err := m.Rotate(ctx, k.ID, time.Hour)
	require.NoError(t, err)
	before := store.n.Load()
	for range 50 {
		_, err := m.Verify(ctx, k0)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), store.n.Load()-before, "one walk for 50 requests")
	clock.Advance(6 * time.Second)
	_, err = m.Verify(ctx, k0)
	require.NoError(t, err)
	assert.Equal(t, int64(2), store.n.Load()-before, "and another once it is old")

	// The chain grows: k0 must count against k2's windows at once, not
	// against k1's, where it made 51. The three keys share k2's 100 (a
	// rotation starts its windows afresh; SECURITY.md).
	k2, _, err := m.Rotate(ctx, next.ID, time.Hour)
	require.NoError(t, err)
	served := 0
	for range 40 {
		for _, plain := range []string{k0, k1, k2} {
			if _, err := m.Verify(ctx, plain); err == nil {
				served++
			}
		}
	}
	assert.Equal(t, 100, served)
}

// pausingGets is a store whose next Get of a chosen ID, once armed, reads
// the key and then waits for release before returning it: a read made
// before a change that returns after it.
type pausingGets struct {
	*apikey.MemoryStore
	id      atomic.Pointer[string]
	read    chan struct{}
	release chan struct{}
}

func (s *pausingGets) Get(ctx context.Context, id string) (apikey.Key, error) {
	k, err := s.MemoryStore.Get(ctx, id)
	if p := s.id.Load(); p != nil && *p == id && s.id.CompareAndSwap(p, nil) {
		close(s.read)
		<-s.release
	}
	return k, err
}

// A rotation by this Manager is seen at once even by a chain walk that
// read the chain before it and ends after it: the walk's stale end is not
// remembered, so the old key counts against the new end's windows from
// the next request on, not against a window nobody else uses for
// chainMemoTTL.
func TestRotationDuringAChainWalkIsSeenAtOnce(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &pausingGets{MemoryStore: apikey.NewMemoryStore(), read: make(chan struct{}), release: make(chan struct{})}
	m := newManager(t, store, apikey.WithClock(clock.Now))
	k0, k := mustCreate(t, m, apikey.NewKey{RateLimits: []apikey.RateLimit{{Name: "minute", Limit: 2, Window: time.Minute}}})
	_, k1, err := m.Rotate(ctx, k.ID, time.Hour)
	require.NoError(t, err)

	store.id.Store(&k1.ID)
	done := make(chan error, 1)
	go func() { _, err := m.Verify(ctx, k0); done <- err }() // walks k0's chain: k1, not yet rotated
	<-store.read
	k2, _, err := m.Rotate(ctx, k1.ID, time.Hour) // the chain now ends at k2
	require.NoError(t, err)
	close(store.release)
	require.NoError(t, <-done, "counted against k1's windows, as the chain was when read")

	for range 2 {
		_, err := m.Verify(ctx, k2)
		require.NoError(t, err)
	}
	_, err = m.Verify(ctx, k0)
	assert.ErrorIs(t, err, apikey.ErrRateLimited, "k0 counts against k2's windows, which are full")
}

// A request refused for its credits (402) has counted against the rate
// limits, as the README says, by design: a client out of credits that
// keeps calling is slowed by 429s. A rate-limited request (429) spends no
// credit.
func TestCreditRefusalCountsAgainstLimits(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{MaxUses: 2, RateLimit: apikey.RateLimit{Limit: 10, Window: time.Minute}})
	search := m.Middleware(apikey.WithCost(func(*http.Request) int { return 5 }))(whoami)
	cheap := m.Middleware()(whoami)
	require.Equal(t, 402, serve(search, get("/", "X-API-Key", plain)).Code, "5 uses do not fit in 2")
	w := serve(cheap, get("/", "X-API-Key", plain))
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "4", w.Header().Get("RateLimit-Remaining"), "10, less the refused 5, less this 1")
	require.Equal(t, 429, serve(search, get("/", "X-API-Key", plain)).Code, "6 counted, and 5 more do not fit in 10")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), *got.RemainingUses, "the 429 spent no credit")
}

// A route's cost is counted by the limits and the uses alike; a cost that
// does not fit is refused and spends no credit.
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

	// A cost below 1 is a bug in the cost function: a 500 naming it, never
	// a free request nor one counted as 1.
	fresh, k2 := mustCreate(t, m, apikey.NewKey{MaxUses: 3})
	var seen error
	free := m.Middleware(apikey.WithCost(func(*http.Request) int { return 0 }),
		apikey.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			seen = err
			apikey.DefaultErrorHandler(w, r, err)
		}))(whoami)
	require.Equal(t, 500, serve(free, get("/", "X-API-Key", fresh)).Code)
	require.ErrorIs(t, seen, apikey.ErrInvalidInput)
	assert.Contains(t, seen.Error(), "WithCost function returned 0")
	got, err = m.Get(ctx, k2.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(3), *got.RemainingUses, "nothing spent")
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

// Uses set by hand, or a refill changed, count for the current period: a
// period that ended before the change does not refill them on the next
// request. (Found by review: a policy changed from monthly to daily, with
// 2 credits and roll-over, gave 7 on its next use.)
func TestRefillChangedMidPeriod(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock() // 2026-11-25 12:00 UTC
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{Owner: "acme", Refill: &apikey.Refill{Amount: 5, Interval: apikey.RefillMonthly, Day: 1}})
	clock.Advance(10 * 24 * time.Hour) // December 5th: a monthly refill is due

	spend := func(want int64) {
		t.Helper()
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
		got, err := m.Get(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, want, *got.RemainingUses)
	}
	_, err := m.Update(ctx, k.ID, apikey.SetRemainingUses(2))
	require.NoError(t, err)
	spend(1) // not refilled to 5 first

	_, err = m.Update(ctx, k.ID, apikey.SetRefill(&apikey.Refill{Amount: 5, Interval: apikey.RefillDaily, RollOver: true}))
	require.NoError(t, err)
	spend(0) // the new refill starts with today's period
	clock.Advance(24 * time.Hour)
	spend(4) // and refills tomorrow

	// The same for an owner's pooled credits.
	credits := int64(2)
	_, err = m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "acme", RemainingUses: &credits,
		Refill: &apikey.Refill{Amount: 50, Interval: apikey.RefillMonthly, Day: 1}})
	require.NoError(t, err)
	clock.Advance(40 * 24 * time.Hour) // a month later
	_, err = m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "acme", RemainingUses: &credits,
		Refill: &apikey.Refill{Amount: 5, Interval: apikey.RefillDaily, RollOver: true}})
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	p, err := m.OwnerPolicy(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, int64(1), *p.RemainingUses, "the 2 credits set, one spent: not 7")
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

// An owner's policy is shared by all its keys: rate limits counted
// together, uses spent together (from the key's own too, both or
// neither), and a cap on live keys.
func TestOwnerPolicy(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	k1, _ := mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	k2, _ := mustCreate(t, m, apikey.NewKey{Owner: "alice", MaxUses: 2})
	bob, _ := mustCreate(t, m, apikey.NewKey{Owner: "bob"})
	five := int64(5)
	p, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "alice",
		RateLimits: []apikey.RateLimit{{Name: "team", Limit: 4, Window: time.Minute}}, RemainingUses: &five, MaxKeys: 3})
	require.NoError(t, err)
	assert.Equal(t, "alice", p.Owner)
	h := m.Middleware()(whoami)
	do := func(key string) int { return serve(h, get("/", "X-API-Key", key)).Code }

	assert.Equal(t, 200, do(k1))
	assert.Equal(t, 200, do(k2))
	assert.Equal(t, 200, do(k1))
	assert.Equal(t, 200, do(k2), "4 requests a minute for alice's keys together")
	assert.Equal(t, 429, do(k1))
	assert.Equal(t, 429, do(k2))
	assert.Equal(t, 200, do(bob), "bob shares nothing with alice")
	clock.Advance(time.Minute)
	assert.Equal(t, 402, do(k2), "k2's own 2 uses are spent")
	assert.Equal(t, 200, do(k1), "the fifth of alice's uses")
	assert.Equal(t, 402, do(k1), "alice's 5 uses are spent, by both keys")
	got, err := m.OwnerPolicy(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, int64(0), *got.RemainingUses)
	assert.Equal(t, int64(5), got.UsesSpent)

	_, _ = mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.ErrorIs(t, err, apikey.ErrOwnerKeyLimit, "3 live keys at most")
	assert.Contains(t, err.Error(), "3 live keys")

	require.NoError(t, m.DeleteOwnerPolicy(ctx, "alice"))
	assert.Equal(t, 200, do(k1), "no shared budget any more")
	_, _ = mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	require.ErrorIs(t, m.DeleteOwnerPolicy(ctx, "alice"), apikey.ErrNotFound)
}

// A key refused for its own uses spends none of its owner's, and the
// owner's refill gives them back.
func TestOwnerCreditsBothOrNeither(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	limited, _ := mustCreate(t, m, apikey.NewKey{Owner: "carol", MaxUses: 1})
	free, _ := mustCreate(t, m, apikey.NewKey{Owner: "carol"})
	_, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "carol", Refill: &apikey.Refill{Amount: 3, Interval: apikey.RefillDaily}})
	require.NoError(t, err)
	_, err = m.Verify(ctx, limited)
	require.NoError(t, err)
	_, err = m.Verify(ctx, limited)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the key's own use is spent")
	p, err := m.OwnerPolicy(ctx, "carol")
	require.NoError(t, err)
	assert.Equal(t, int64(2), *p.RemainingUses, "and the refused request took none of carol's")
	for range 2 {
		_, err = m.Verify(ctx, free)
		require.NoError(t, err)
	}
	_, err = m.Verify(ctx, free)
	var ue *apikey.UsageExhaustedError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, 12*time.Hour, ue.Reset, "carol's refill at midnight")
	clock.Advance(12 * time.Hour)
	_, err = m.Verify(ctx, free)
	require.NoError(t, err, "refilled")
}

// Bad policies are refused, naming the field; an owner needs a key.
func TestOwnerPolicyRefused(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, apikey.NewMemoryStore())
	_, _ = mustCreate(t, m, apikey.NewKey{Owner: "alice"})
	neg := int64(-1)
	for field, p := range map[string]apikey.OwnerPolicy{
		"OwnerPolicy.Owner":         {},
		"rate limit 1":              {Owner: "alice", RateLimits: []apikey.RateLimit{{Limit: 1, Window: time.Second}}},
		"Refill.Interval":           {Owner: "alice", Refill: &apikey.Refill{Amount: 1, Interval: "weekly"}},
		"OwnerPolicy.RemainingUses": {Owner: "alice", RemainingUses: &neg},
		"OwnerPolicy.MaxKeys":       {Owner: "alice", MaxKeys: -1},
	} {
		_, err := m.SetOwnerPolicy(ctx, p)
		require.ErrorIs(t, err, apikey.ErrInvalidInput, field)
		assert.Contains(t, err.Error(), field)
	}
	_, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "nobody", MaxKeys: 1})
	require.ErrorIs(t, err, apikey.ErrNotFound)
	assert.Contains(t, err.Error(), "has no keys")
}

// Another Manager on the same store sees a policy within its refresh
// interval, and its owner's uses are exact across both: the store counts.
func TestOwnerPolicyAcrossManagers(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	a := newManager(t, store, apikey.WithOwnerRefresh(20*time.Millisecond))
	b := newManager(t, store, apikey.WithOwnerRefresh(20*time.Millisecond))
	key, _ := mustCreate(t, a, apikey.NewKey{Owner: "dave"})
	_, err := b.Verify(ctx, key) // b reads the (empty) policies
	require.NoError(t, err)
	ten := int64(10)
	_, err = a.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "dave", RemainingUses: &ten})
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := b.OwnerPolicy(ctx, "dave")
		require.NoError(t, err)
		if p.RemainingUses != nil && *p.RemainingUses < 10 || time.Now().After(deadline) {
			break
		}
		_, err = b.Verify(ctx, key)
		require.NoError(t, err)
		time.Sleep(5 * time.Millisecond)
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for _, m := range []*apikey.Manager{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				if _, err := m.Verify(ctx, key); err == nil {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	p, err := a.OwnerPolicy(ctx, "dave")
	require.NoError(t, err)
	assert.Equal(t, int64(0), *p.RemainingUses)
	assert.Equal(t, int64(10), p.UsesSpent, "ten uses in all, across both Managers")
}

// A policy changed by another Manager applies within the refresh interval
// from the first request after it, however quiet the Manager was: a copy
// older than the interval is never what decides.
func TestOwnerPolicyChangeAfterAQuietPeriod(t *testing.T) {
	ctx := context.Background()
	store := apikey.NewMemoryStore()
	a := newManager(t, store)
	b := newManager(t, store, apikey.WithOwnerRefresh(20*time.Millisecond))
	key, _ := mustCreate(t, a, apikey.NewKey{Owner: "frank"})
	_, err := b.Verify(ctx, key) // b reads the (empty) policies
	require.NoError(t, err)
	none := int64(0)
	_, err = a.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "frank", RemainingUses: &none})
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // five intervals without a request
	_, err = b.Verify(ctx, key)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the first request after the quiet period")
}

// ownerReads is a memory store that counts reads of its owner policies.
type ownerReads struct {
	*apikey.MemoryStore
	n atomic.Int64
}

func (s *ownerReads) Owners(ctx context.Context) ([]apikey.OwnerPolicy, error) {
	s.n.Add(1)
	return s.MemoryStore.Owners(ctx)
}

// A Manager reads the owner policies in the background, whether requests
// come or not, and stops reading them when it is closed.
func TestOwnerRefreshStopsAtClose(t *testing.T) {
	ctx := context.Background()
	store := &ownerReads{MemoryStore: apikey.NewMemoryStore()}
	m := apikey.New(store, apikey.WithOwnerRefresh(5*time.Millisecond), apikey.WithLogger(nil))
	plain, _, err := m.Create(ctx, apikey.NewKey{Owner: "gina"})
	require.NoError(t, err)
	rememberKeys(plain)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return store.n.Load() >= 3 }, 5*time.Second, time.Millisecond,
		"read again with no request")
	m.Close()
	after := store.n.Load()
	time.Sleep(50 * time.Millisecond) // ten intervals
	assert.Equal(t, after, store.n.Load(), "no read after Close")
}

// ownersDown is a memory store whose owner policies cannot be read while
// down is set.
type ownersDown struct {
	*apikey.MemoryStore
	down atomic.Bool
}

func (s *ownersDown) Owners(ctx context.Context) ([]apikey.OwnerPolicy, error) {
	if s.down.Load() {
		return nil, errors.New("connection refused")
	}
	return s.MemoryStore.Owners(ctx)
}

// Shared budgets are never skipped because they cannot be read: a Manager
// that has never read the policies refuses with 503; one that has goes on
// with its copy for three refresh intervals, then refuses too, and serves
// again once they can be read.
func TestOwnerPoliciesUnreadable(t *testing.T) {
	ctx := context.Background()
	store := &ownersDown{MemoryStore: apikey.NewMemoryStore()}
	plain, _ := mustCreate(t, newManager(t, store), apikey.NewKey{Owner: "alice"})
	store.down.Store(true)
	m := newManager(t, store, apikey.WithOwnerRefresh(5*time.Millisecond))
	_, _, err := m.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable, "a cap on keys that cannot be read refuses a create")
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable, "never read: refused")

	store.down.Store(false)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	credits := int64(1000)
	_, err = m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "alice", RemainingUses: &credits})
	require.NoError(t, err)

	store.down.Store(true)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err, "a failed refresh goes on with the copy for a while")
	require.Eventually(t, func() bool {
		_, err := m.Verify(ctx, plain)
		return errors.Is(err, apikey.ErrStoreUnavailable)
	}, 5*time.Second, time.Millisecond, "then refuses")

	store.down.Store(false)
	require.Eventually(t, func() bool {
		_, err := m.Verify(ctx, plain)
		return err == nil
	}, 5*time.Second, time.Millisecond, "and serves again once they can be read")
	p, err := m.OwnerPolicy(ctx, "alice")
	require.NoError(t, err)
	assert.Positive(t, p.UsesSpent, "the requests served spent the owner's credits")
	assert.Equal(t, int64(1000)-p.UsesSpent, *p.RemainingUses)
}

// MaxKeys holds when creates for one owner race in one Manager: the cap
// is checked and the key stored as one step, so 16 concurrent creates
// for an owner with room for 2 more keys make exactly 2.
func TestOwnerMaxKeysUnderConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	// A store slow to list and store, as a database is: the window
	// between the check and the insert is real.
	m := newManager(t, slowStore{apikey.NewMemoryStore()})
	_, _ = mustCreate(t, m, apikey.NewKey{Owner: "erin"})
	_, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "erin", MaxKeys: 3})
	require.NoError(t, err)
	var made, refused atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, _, err := m.Create(ctx, apikey.NewKey{Owner: "erin"})
			switch {
			case err == nil:
				made.Add(1)
			case errors.Is(err, apikey.ErrOwnerKeyLimit):
				refused.Add(1)
			default:
				t.Errorf("Create: %v", err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(2), made.Load(), "room for 2 more keys, however the creates interleave")
	assert.Equal(t, int64(14), refused.Load())
	page, err := m.List(ctx, apikey.ListOptions{Owner: "erin"})
	require.NoError(t, err)
	assert.Equal(t, 3, len(page.Keys))
}

// slowStore takes a millisecond to list or create, as a database's round
// trip does.
type slowStore struct{ *apikey.MemoryStore }

func (s slowStore) List(ctx context.Context, o apikey.ListOptions) ([]apikey.Key, error) {
	time.Sleep(time.Millisecond)
	return s.MemoryStore.List(ctx, o)
}

func (s slowStore) Create(ctx context.Context, k apikey.Key) error {
	time.Sleep(time.Millisecond)
	return s.MemoryStore.Create(ctx, k)
}

// MaxKeys counts live keys: an expired key given a later expiry is live
// again, so it is refused, as a Create would be, when the owner has as
// many live keys as its policy allows. Otherwise an owner could hold any
// number of live keys by making them expire and extending them.
func TestOwnerMaxKeysCannotBeEscapedByExtendingAnExpiredKey(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	_, old := mustCreate(t, m, apikey.NewKey{Owner: "fay", ExpiresAt: clock.Now().Add(time.Minute)})
	_, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "fay", MaxKeys: 1})
	require.NoError(t, err)
	clock.Advance(2 * time.Minute)
	_, _ = mustCreate(t, m, apikey.NewKey{Owner: "fay"}) // old has expired: room for one
	_, _, err = m.Create(ctx, apikey.NewKey{Owner: "fay"})
	require.ErrorIs(t, err, apikey.ErrOwnerKeyLimit)

	_, err = m.Update(ctx, old.ID, apikey.SetExpiry(clock.Now().Add(time.Hour)))
	require.ErrorIs(t, err, apikey.ErrOwnerKeyLimit, "a second live key for an owner allowed one")
	_, err = m.Update(ctx, old.ID, apikey.SetExpiry(time.Time{}))
	require.ErrorIs(t, err, apikey.ErrOwnerKeyLimit, "nor by removing the expiry")
	k, err := m.Get(ctx, old.ID)
	require.NoError(t, err)
	assert.True(t, k.Expired(clock.Now()), "the key stays expired")
	_, err = m.Update(ctx, old.ID, apikey.SetName("still expired"))
	require.NoError(t, err, "other changes to an expired key are fine")
}

// A 402 promises a retry time only when a refill will give the request
// its uses: a key whose own uses refill daily, spending from an owner's
// uses that never refill, gets no Retry-After once the owner's are spent
// (it got the key's next refill, after which it is refused just the same).
func TestOwnerCreditsRetryAfterOnlyWhenARefillComes(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, _ := mustCreate(t, m, apikey.NewKey{Owner: "gus", Refill: &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily}})
	one := int64(1)
	_, err := m.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "gus", RemainingUses: &one})
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	var ue *apikey.UsageExhaustedError
	require.ErrorAs(t, err, &ue)
	assert.Zero(t, ue.Reset, "gus's uses never come back: no time to retry at")
	w := serve(m.Middleware()(whoami), get("/", "X-API-Key", plain))
	assert.Equal(t, 402, w.Code)
	assert.Empty(t, w.Header().Get("Retry-After"))

	clock.Advance(24 * time.Hour)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted, "the key's refill gave the request nothing")
}

// Enabling a key changes none of its uses: a key its holder disabled and
// enabled again gets the refill due as any other key does. (Enabling
// counted as setting the uses: the due refill was marked as given, and
// the key, spent the day before, had none until the next one.)
func TestEnableKeepsADueRefill(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	plain, k := mustCreate(t, m, apikey.NewKey{Owner: "hal", Refill: &apikey.Refill{Amount: 2, Interval: apikey.RefillDaily}})
	for range 2 {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}
	_, err := m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrUsageExhausted)
	clock.Advance(24 * time.Hour) // a refill is due

	_, err = m.Update(ctx, k.ID, apikey.DisableBy(k.ID))
	require.NoError(t, err)
	_, err = m.Update(ctx, k.ID, apikey.EnableIfDisabledBy(k.ID))
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err, "today's refill")
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), *got.RemainingUses)
}

// VerifyWithStatus gives code of its own what the middleware puts in the
// RateLimit headers of an allowed request, and SetRateLimitHeaders writes
// them the same way.
func TestVerifyWithStatus(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithClock(clock.Now))
	limited, _ := mustCreate(t, m, apikey.NewKey{RateLimit: apikey.RateLimit{Limit: 3, Window: time.Minute}})
	free, _ := mustCreate(t, m, apikey.NewKey{})
	mw := m.Middleware()(whoami)
	for i := range 2 {
		p, st, err := m.VerifyWithStatus(ctx, limited, netip.Addr{})
		require.NoError(t, err)
		assert.NotEmpty(t, p.KeyID)
		h := http.Header{}
		apikey.SetRateLimitHeaders(h, st)
		want := serve(mw, get("/", "X-API-Key", limited)).Header()
		if i == 0 {
			assert.Equal(t, "3", h.Get("RateLimit-Limit"))
			assert.Equal(t, "2", h.Get("RateLimit-Remaining"))
			assert.Equal(t, "1", want.Get("RateLimit-Remaining"), "the middleware's request after it")
		}
		assert.Equal(t, want.Get("RateLimit-Limit"), h.Get("RateLimit-Limit"))
		assert.Equal(t, want.Get("RateLimit-Reset"), h.Get("RateLimit-Reset"))
	}
	_, _, err := m.VerifyWithStatus(ctx, limited, netip.Addr{})
	require.ErrorIs(t, err, apikey.ErrRateLimited)

	_, st, err := m.VerifyWithStatus(ctx, free, netip.Addr{})
	require.NoError(t, err)
	assert.Zero(t, st.Limit)
	h := http.Header{}
	apikey.SetRateLimitHeaders(h, st)
	assert.Empty(t, h, "no limit, no headers")
}

// Refill.UsesAt is the rule the stores spend by: the same period keeps
// what is left, a new one gives Amount, or adds it with RollOver up to
// MaxRemainingUses.
func TestRefillUsesAt(t *testing.T) {
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	today := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	daily := apikey.Refill{Amount: 100, Interval: apikey.RefillDaily}
	rolling := apikey.Refill{Amount: 100, Interval: apikey.RefillDaily, RollOver: true}
	assert.Equal(t, int64(4), daily.UsesAt(4, today, now), "refilled this period")
	assert.Equal(t, int64(100), daily.UsesAt(4, today.AddDate(0, 0, -1), now), "a new period")
	assert.Equal(t, int64(104), rolling.UsesAt(4, today.AddDate(0, 0, -3), now), "rolled over once")
	assert.Equal(t, apikey.MaxRemainingUses, rolling.UsesAt(apikey.MaxRemainingUses-3, today.AddDate(0, 0, -1), now), "up to the most")
	assert.Equal(t, apikey.MaxRemainingUses, rolling.UsesAt(math.MaxInt64-1, today.AddDate(0, 0, -1), now), "without overflow")
}
