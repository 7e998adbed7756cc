package admin_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Durations in the API are written as the apikey command's flags are:
// whole days ("30d") or Go durations ("720h"), for ttl, grace and a rate
// limit's window alike.
func TestDurationsInDays(t *testing.T) {
	e := newEnv(t)
	var s secretBody
	r := e.Do("POST", "/admin/keys", adminKey, `{"name":"month","ttl":"30d","rate_limit":{"limit":1000,"window":"1d"}}`)
	require.Equal(t, 201, r.Status, r.Body)
	r.JSON(t, &s)
	require.NotNil(t, s.Key.ExpiresAt)
	exp, err := time.Parse(time.RFC3339, *s.Key.ExpiresAt)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), exp, time.Minute)
	require.NotNil(t, s.Key.RateLimit)
	assert.Equal(t, "24h0m0s", s.Key.RateLimit.Window)

	r = e.Do("POST", "/admin/keys/"+s.Key.ID+"/rotate", adminKey, `{"grace":"1d"}`)
	require.Equal(t, 201, r.Status, r.Body)
	old, err := e.Keys.Get(context.Background(), s.Key.ID)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), old.ExpiresAt, time.Minute)

	for body, msg := range map[string]string{
		`{"ttl":"30 days"}`:                        `ttl: "30 days" is not a duration such as 30d, 720h, 90m or 30s`,
		`{"ttl":"-1d"}`:                            "ttl must be positive",
		`{"rate_limit":{"limit":1,"window":"xd"}}`: `rate_limit.window: "xd" is not a duration such as 30d, 720h, 90m or 30s`,
	} {
		r := e.Do("POST", "/admin/keys", adminKey, body)
		assert.Equal(t, 400, r.Status, body)
		assert.Equal(t, msg, r.Msg(t), body)
	}
}
