// Package apikeytest holds the conformance suites of the apikey contracts,
// in the spirit of testing/fstest: an implementation proves itself by
// running the suite from its own tests, and the Manager can rely on one
// behaviour whatever the backend. Every store and feed in this repository
// runs them.
//
// A store of your own (a Store, and a UsageStore if it counts uses):
//
//	func TestMyStore(t *testing.T) {
//		apikeytest.TestStore(t, func(t *testing.T) apikey.Store {
//			s := mystore.Open(t.TempDir())
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// A change feed of your own (a cache.Feed), with one process per call of
// newProcess sharing one database:
//
//	func TestMyFeed(t *testing.T) {
//		apikeytest.TestFeed(t, apikeytest.FeedHarness{
//			Open: func(t *testing.T) func() (apikey.Store, cache.Feed) {
//				db := openDatabase(t)
//				return func() (apikey.Store, cache.Feed) { return mystore.New(db), myfeed.New(db) }
//			},
//			Bound: time.Second,
//		})
//	}
package apikeytest
