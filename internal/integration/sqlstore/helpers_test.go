package sqlstore_test

import (
	"testing"

	"github.com/go-apikey/apikey/internal/testkit"
)

// The shared test helpers (internal/testkit) under the names these tests
// use.
type fakeClock = testkit.FakeClock

var (
	newManager   = testkit.NewManager
	mustCreate   = testkit.MustCreate
	newFakeClock = testkit.NewFakeClock
	rememberKeys = testkit.Remember
	whoami       = testkit.Whoami
	serve        = testkit.Serve
	get          = testkit.Get
	runRequests  = testkit.RunRequests
)

// TestMain fails the run if a log line holds a key, and says which tests
// skipped for want of a server (internal/testkit).
func TestMain(m *testing.M) { testkit.Main(m) }
