package apikey_test

import (
	"encoding/base64"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// The shared test helpers (internal/testkit) under the names these tests
// use.
type (
	fakeClock = testkit.FakeClock
	spyStore  = testkit.SpyStore
)

var (
	newManager   = testkit.NewManager
	mustCreate   = testkit.MustCreate
	newFakeClock = testkit.NewFakeClock
	newSpyStore  = testkit.NewSpyStore
	rememberKeys = testkit.Remember
	secretOf     = testkit.SecretOf
	whoami       = testkit.Whoami
	serve        = testkit.Serve
	get          = testkit.Get
)

// TestMain fails the run if a log line holds a key (internal/testkit).
func TestMain(m *testing.M) { testkit.Main(m) }

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// idsOf returns the IDs of keys, in order.
func idsOf(keys []apikey.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}
