package sqlstore_test

import (
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// The shared test helpers (internal/testkit) under the names these tests
// use.
type fakeClock = testkit.FakeClock

var (
	newFakeClock = testkit.NewFakeClock
	rememberKeys = testkit.Remember
	whoami       = testkit.Whoami
	serve        = testkit.Serve
	get          = testkit.Get
	runRequests  = testkit.RunRequests
)

func newManager(t *testing.T, store apikey.Store, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	return testkit.NewManager(t, store, opts...)
}

func mustCreate(t *testing.T, m *apikey.Manager, nk apikey.NewKey) (string, apikey.Key) {
	t.Helper()
	return testkit.MustCreate(t, m, nk)
}

// TestMain fails the run if a log line holds a key (internal/testkit).
func TestMain(m *testing.M) { testkit.Main(m) }
