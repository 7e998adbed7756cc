package cache_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/testkit"
	"github.com/stretchr/testify/require"
)

// BenchmarkCacheHitFeed shows that following a change feed costs a cache
// hit nothing: the same request, a hit every time, through a cache with
// and without a (connected) feed:
//
//	go test -run '^$' -bench 'CacheHitFeed' -benchmem -count 10 . | benchstat -col /feed -
func BenchmarkCacheHitFeed(b *testing.B) {
	for _, withFeed := range []bool{false, true} {
		name := "feed=none"
		if withFeed {
			name = "feed=attached"
		}
		b.Run(name, func(b *testing.B) {
			opts := []cache.Option{cache.WithTTL(time.Hour)}
			var f *memFeed
			if withFeed {
				f = newMemBus().feed()
				opts = append(opts, cache.WithFeed(f))
			}
			cached := cache.New(apikey.NewMemoryStore(), opts...)
			defer cached.Close()
			if f != nil {
				<-f.subscribed // connected: entries get the full TTL
			}
			m := apikey.New(cached, apikey.WithLastUsedInterval(time.Minute))
			defer m.Close()
			plain, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "alice", Scopes: []string{"bots:read"}})
			require.NoError(b, err)
			var owner string
			h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, _ := apikey.FromContext(r.Context())
				owner = p.Owner
			}))
			testkit.RunRequests(b, h, plain)
			if owner != "alice" {
				b.Fatalf("handler saw owner %q, want alice", owner)
			}
		})
	}
}
