// Package redislimit is an apikey.Limiter that counts in Redis, so a key's
// rate limit holds across every replica of a service instead of per
// process. It lives in its own package so that the apikey package never
// imports a Redis client.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	keys := apikey.New(store, apikey.WithLimiter(redislimit.New(rdb)))
package redislimit

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/redis/go-redis/v9"
)

// Limiter counts requests per key in fixed windows held in Redis. Each
// window is one Redis key, "<prefix><key ID>:<window start in ms>", that
// expires shortly after its window ends. It is safe for concurrent use.
type Limiter struct {
	rdb    redis.Scripter
	prefix string
}

var _ apikey.Limiter = (*Limiter)(nil)

// Option configures New.
type Option func(*Limiter)

// WithPrefix sets the prefix of the Redis keys the limiter uses
// ("apikey:rl:" by default), to keep several services apart on one Redis.
func WithPrefix(prefix string) Option {
	return func(l *Limiter) { l.prefix = prefix }
}

// New returns a Limiter on rdb (a *redis.Client, *redis.ClusterClient or
// *redis.Ring).
func New(rdb redis.Scripter, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, prefix: "apikey:rl:"}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// allow counts a request unless the window is full, in one atomic step:
// a request over the limit is not counted, as apikey.Limiter requires.
// It returns {allowed (0 or 1), count after the request}.
var allow = redis.NewScript(`
local n = tonumber(redis.call("GET", KEYS[1]) or "0")
if n >= tonumber(ARGV[1]) then
	return {0, n}
end
n = redis.call("INCR", KEYS[1])
if n == 1 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return {1, n}
`)

// Allow implements apikey.Limiter. A Redis error is returned as is, and the
// Manager refuses the request (fail closed, 503 from the middleware).
func (l *Limiter) Allow(ctx context.Context, id string, limit apikey.RateLimit, now time.Time) (apikey.LimitStatus, error) {
	if limit.Limit <= 0 || limit.Window < time.Millisecond {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: %w: invalid rate limit %+v", apikey.ErrInvalidInput, limit)
	}
	start := now.Truncate(limit.Window)
	end := start.Add(limit.Window)
	key := l.prefix + id + ":" + strconv.FormatInt(start.UnixMilli(), 10)
	// Keep the counter a little past the window so clock skew between
	// replicas cannot resurrect a fresh count inside the window.
	ttl := end.Sub(now) + time.Second
	res, err := allow.Run(ctx, l.rdb, []string{key}, limit.Limit, ttl.Milliseconds()).Int64Slice()
	if err != nil {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: %w", err)
	}
	if len(res) != 2 {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: unexpected script reply %v", res)
	}
	return apikey.LimitStatus{
		Allowed:   res[0] == 1,
		Limit:     limit.Limit,
		Remaining: max(limit.Limit-int(res[1]), 0),
		Reset:     end.Sub(now),
	}, nil
}
