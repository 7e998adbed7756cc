package cache_test

import (
	"testing"

	"github.com/go-apikey/apikey/internal/testkit"
)

// The shared test helpers (internal/testkit) under the names these tests
// use.
var (
	newManager   = testkit.NewManager
	mustCreate   = testkit.MustCreate
	newFakeClock = testkit.NewFakeClock
	newSpyStore  = testkit.NewSpyStore
)

// TestMain fails the run if a log line holds a key (internal/testkit).
func TestMain(m *testing.M) { testkit.Main(m) }
