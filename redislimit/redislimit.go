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

// Limiter counts requests in fixed windows held in Redis. Each window is
// one Redis key, "<prefix><bucket ID>:<window in ms>:<window start in
// ms>", that expires shortly after its window ends. It is safe for
// concurrent use.
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

// allow counts a request of cost ARGV[1] against every window in KEYS,
// in one atomic step: in all of them when each has room for the cost
// (ARGV[2+2i] is window i's limit), in none otherwise, as apikey.Limiter
// requires. A key named twice is counted once. A new window's counter
// expires after ARGV[3+2i] milliseconds. It returns {allowed (0 or 1),
// then each window's count after the request}.
var allow = redis.NewScript(`
local cost = tonumber(ARGV[1])
local counts = {}
local fits = 1
for i, key in ipairs(KEYS) do
	local n = tonumber(redis.call("GET", key) or "0")
	counts[i] = n
	if n + cost > tonumber(ARGV[2 * i]) then
		fits = 0
	end
end
if fits == 1 then
	local done = {}
	for i, key in ipairs(KEYS) do
		if not done[key] then
			done[key] = true
			local n = redis.call("INCRBY", key, cost)
			if n == cost then
				redis.call("PEXPIRE", key, ARGV[2 * i + 1])
			end
		end
		counts[i] = tonumber(redis.call("GET", key))
	end
end
local out = {fits}
for i = 1, #counts do
	out[i + 1] = counts[i]
end
return out
`)

// Allow implements apikey.Limiter with one script, so several limits cost
// one Redis round trip. A Redis error is returned as is, and the Manager
// refuses the request (fail closed, 503 from the middleware). Two buckets
// with one ID and one window share a counter.
func (l *Limiter) Allow(ctx context.Context, buckets []apikey.Bucket, cost int, now time.Time) (apikey.LimitStatus, error) {
	if len(buckets) == 0 || cost < 1 {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: %w: no buckets, or a cost below 1", apikey.ErrInvalidInput)
	}
	keys := make([]string, len(buckets))
	args := make([]any, 0, 1+2*len(buckets))
	args = append(args, cost)
	ends := make([]time.Time, len(buckets))
	for i, b := range buckets {
		if b.ID == "" || b.Limit.Limit <= 0 || b.Limit.Window < time.Millisecond {
			return apikey.LimitStatus{}, fmt.Errorf("redislimit: %w: invalid bucket %q", apikey.ErrInvalidInput, b.ID)
		}
		start := now.Truncate(b.Limit.Window)
		ends[i] = start.Add(b.Limit.Window)
		keys[i] = l.prefix + b.ID + ":" + strconv.FormatInt(b.Limit.Window.Milliseconds(), 10) + ":" + strconv.FormatInt(start.UnixMilli(), 10)
		// Keep the counter a little past the window so clock skew between
		// replicas cannot resurrect a fresh count inside the window.
		ttl := ends[i].Sub(now) + time.Second
		args = append(args, b.Limit.Limit, ttl.Milliseconds())
	}
	res, err := allow.Run(ctx, l.rdb, keys, args...).Int64Slice()
	if err != nil {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: %w", err)
	}
	if len(res) != 1+len(buckets) {
		return apikey.LimitStatus{}, fmt.Errorf("redislimit: unexpected script reply %v", res)
	}
	return status(buckets, res[1:], ends, cost, res[0] == 1, now), nil
}

// status reports the outcome as apikey.Limiter says: the bucket closest
// to refusal and, for a refused request, when every full bucket has room.
func status(buckets []apikey.Bucket, counts []int64, ends []time.Time, cost int, allowed bool, now time.Time) apikey.LimitStatus {
	st := apikey.LimitStatus{Allowed: allowed}
	var wait time.Duration
	for i, b := range buckets {
		left := b.Limit.Limit - int(counts[i])
		reset := ends[i].Sub(now)
		if i == 0 || left < st.Remaining || left == st.Remaining && reset < st.Reset {
			st.Name, st.Limit, st.Remaining, st.Reset = b.Limit.Name, b.Limit.Limit, left, reset
		}
		if !allowed && cost > b.Limit.Limit-int(counts[i]) { // the sum may overflow
			wait = max(wait, reset)
		}
	}
	st.Remaining = max(st.Remaining, 0)
	if !allowed {
		st.Reset = wait
	}
	return st
}
