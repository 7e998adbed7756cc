// Package cache puts a verification cache in front of any [apikey.Store],
// so that a key already seen costs no round trip to the database:
//
//	store, _ := apikey.NewSQLStore(db, apikey.Postgres)
//	cached := cache.New(store, cache.WithFeed(pgfeed.New(dsn, store)))
//	defer cached.Close()
//	keys := apikey.New(cached)
//
// A hit costs a map lookup; a miss one lookup in the store behind it,
// shared by the concurrent misses for the same digest. Unknown digests are
// remembered for a shorter time, and take at most a quarter of the cache,
// so a flood of bad keys neither reaches the database nor pushes out the
// good ones.
//
// # Replicas and revocation
//
// Several replicas can share one [apikey.SQLStore], each with a cache in
// front of it. How long a key disabled, rotated or revoked on one replica
// may still verify on another depends on the change feed the caches follow
// ([WithFeed]):
//
//	feed                               bound                           writers heard
//	pgfeed (PostgreSQL LISTEN/NOTIFY)  under a second on one network   every writer, manual SQL too
//	pollfeed (any SQLStore)            the poll interval (1 s)         every writer, manual SQL too
//	redisfeed (Redis pub/sub)          under a second on one network   caches with the feed
//	none                               the cache TTL (10 s)            -
//
// Once a cache notices its feed is down, it keeps entries for the fallback
// TTL at most (1 s, [WithFallbackTTL]), and starts afresh when the feed is
// back; see [Feed]. Writes through a cache take effect in it at once. The
// cache decides nothing: the Manager still checks expiry at every request,
// and a usage-limited key's uses are spent in the store behind it.
package cache
