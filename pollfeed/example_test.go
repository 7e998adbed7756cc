package pollfeed_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/pollfeed"
)

// Two replicas share one database, each with a cache that follows the
// change log: a key disabled on one is refused by the other within the
// poll interval, although its cache keeps entries for five minutes.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "pollfeed")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "keys.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	store, _ := apikey.NewSQLStore(db, apikey.SQLite)
	if err := store.Migrate(ctx); err != nil { // creates the change log too
		panic(err)
	}

	replica := func() (*apikey.Manager, *cache.Store) {
		feed := pollfeed.New(store, pollfeed.WithInterval(100*time.Millisecond))
		cached := cache.New(store, cache.WithTTL(5*time.Minute), cache.WithFeed(feed))
		return apikey.New(cached), cached
	}
	a, cacheA := replica()
	defer cacheA.Close()
	defer a.Close()
	b, cacheB := replica()
	defer cacheB.Close()
	defer b.Close()

	plain, k, _ := a.Create(ctx, apikey.NewKey{Owner: "alice"})
	_, err = b.Verify(ctx, plain)
	fmt.Println("on B:", err)

	_, _ = a.Disable(ctx, k.ID)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err = b.Verify(ctx, plain); err != nil {
			break
		}
	}
	fmt.Println("on B, after A disabled it:", err)
	// Output:
	// on B: <nil>
	// on B, after A disabled it: apikey: API key disabled
}
