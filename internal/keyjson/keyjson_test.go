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
