package keyjson

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// next_refill_at is the start of the period after the one holding the time
// shown at, in UTC, for keys and owners; null without a refill.
func TestNextRefillAt(t *testing.T) {
	now := time.Date(2026, 2, 20, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	monthly := &apikey.Refill{Amount: 10, Interval: apikey.RefillMonthly, Day: 31}
	k := From(apikey.Key{Refill: monthly}, now)
	require.NotNil(t, k.NextRefillAt)
	assert.Equal(t, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), *k.NextRefillAt, "day 31 is February's last")
	assert.Nil(t, From(apikey.Key{}, now).NextRefillAt)

	o := FromOwner(apikey.OwnerPolicy{Owner: "acme", Refill: &apikey.Refill{Amount: 5, Interval: apikey.RefillDaily}}, now)
	require.NotNil(t, o.NextRefillAt)
	assert.Equal(t, time.Date(2026, 2, 21, 0, 0, 0, 0, time.UTC), *o.NextRefillAt)
	assert.Nil(t, FromOwner(apikey.OwnerPolicy{Owner: "acme"}, now).NextRefillAt)
}

func ptr[T any](v T) *T { return &v }

// A key and an owner show their uses as the next spend finds them: a
// refill due since the last one is counted, and the next one is named.
func TestUsesAtNow(t *testing.T) {
	now := time.Date(2027, time.February, 20, 15, 4, 0, 0, time.UTC)
	day := func(m time.Month, d int) time.Time { return time.Date(2027, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tt := range []struct {
		name       string
		uses       *int64
		refill     *apikey.Refill
		refilledAt time.Time
		left       *int64
		refilled   *time.Time
		next       *time.Time
	}{
		{"no usage limit", nil, nil, time.Time{}, nil, nil, nil},
		{"no refill", ptr[int64](3), nil, time.Time{}, ptr[int64](3), nil, nil},
		{"refilled today", ptr[int64](3), &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily}, day(2, 20),
			ptr[int64](3), ptr(day(2, 20)), ptr(day(2, 21))},
		{"due since yesterday", ptr[int64](0), &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily}, day(2, 19),
			ptr[int64](10), ptr(day(2, 20)), ptr(day(2, 21))},
		{"due, rolling over", ptr[int64](4), &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily, RollOver: true}, day(2, 10),
			ptr[int64](14), ptr(day(2, 20)), ptr(day(2, 21))},
		// A roll-over stops at MaxRemainingUses, as the stores' does.
		{"due, rolling over past the most uses", ptr[int64](apikey.MaxRemainingUses - 3), &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily, RollOver: true}, day(2, 10),
			ptr(apikey.MaxRemainingUses), ptr(day(2, 20)), ptr(day(2, 21))},
		{"due, rolling over from the most uses", ptr(apikey.MaxRemainingUses), &apikey.Refill{Amount: apikey.MaxRemainingUses, Interval: apikey.RefillDaily, RollOver: true}, day(2, 10),
			ptr(apikey.MaxRemainingUses), ptr(day(2, 20)), ptr(day(2, 21))},
		{"never refilled", ptr[int64](1), &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily}, time.Time{},
			ptr[int64](10), ptr(day(2, 20)), ptr(day(2, 21))},
		// The 31st in February is its last day, the 28th in 2027.
		{"monthly on the 31st, not due before the 28th", ptr[int64](0), &apikey.Refill{Amount: 5, Interval: apikey.RefillMonthly, Day: 31}, day(1, 31),
			ptr[int64](0), ptr(day(1, 31)), ptr(day(2, 28))},
		{"monthly on the 15th", ptr[int64](0), &apikey.Refill{Amount: 5, Interval: apikey.RefillMonthly, Day: 15}, day(1, 15),
			ptr[int64](5), ptr(day(2, 15)), ptr(day(3, 15))},
	} {
		k := From(apikey.Key{ID: "k", RemainingUses: tt.uses, Refill: tt.refill, RefilledAt: tt.refilledAt}, now)
		assert.Equal(t, tt.left, k.RemainingUses, "%s: uses", tt.name)
		assert.Equal(t, tt.refilled, k.RefilledAt, "%s: refilled", tt.name)
		assert.Equal(t, tt.next, k.NextRefillAt, "%s: next", tt.name)

		o := FromOwner(apikey.OwnerPolicy{Owner: "o", RemainingUses: tt.uses, Refill: tt.refill, RefilledAt: tt.refilledAt}, now)
		assert.Equal(t, tt.left, o.RemainingUses, "%s: owner's uses", tt.name)
		assert.Equal(t, tt.refilled, o.RefilledAt, "%s: owner refilled", tt.name)
		assert.Equal(t, tt.next, o.NextRefillAt, "%s: owner's next", tt.name)
	}

	// The key's own value is left as it was.
	uses := int64(0)
	k := apikey.Key{RemainingUses: &uses, Refill: &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily}}
	require.Equal(t, int64(10), *From(k, now).RemainingUses)
	assert.Equal(t, int64(0), uses)
}
