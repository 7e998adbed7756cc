package adminweb_test

import (
	"net/http"
	"testing"

	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/admintest"
	"github.com/go-apikey/apikey/internal/testkit"
)

// TestMain says which tests skipped for want of a server or a browser
// (testkit.Need, testkit.SkipFor).
func TestMain(m *testing.M) { testkit.Main(m) }

// The test server (internal/admintest) under the names these tests use.
type (
	env            = admintest.Env
	envConfig      = admintest.Config
	recordingStore = admintest.RecordingStore
	secretBody     = admintest.SecretBody
)

const adminKey = admintest.AdminKey

var (
	newKeys = admintest.NewKeys
)

func newEnv(t *testing.T, opts ...admin.Option) *env { return admintest.NewEnv(t, opts...) }

func newEnvConfig(t *testing.T, cfg envConfig) *env { return admintest.NewEnvConfig(t, cfg) }

func watch(t *testing.T, store *recordingStore, h http.Handler) http.Handler {
	return admintest.Watch(t, store, h)
}
