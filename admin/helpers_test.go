package admin_test

import (
	"net/http"
	"testing"

	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/admintest"
)

// The test server (internal/admintest) under the names these tests use.
type (
	env            = admintest.Env
	envConfig      = admintest.Config
	recordingStore = admintest.RecordingStore
	response       = admintest.Response
	exchange       = admintest.Exchange
	keyBody        = admintest.KeyBody
	listBody       = admintest.ListBody
	secretBody     = admintest.SecretBody
)

const adminKey = admintest.AdminKey

var (
	errDown           = admintest.ErrDown
	newRecordingStore = admintest.NewRecordingStore
	newKeys           = admintest.NewKeys
)

func newEnv(t *testing.T, opts ...admin.Option) *env { return admintest.NewEnv(t, opts...) }

func newEnvConfig(t *testing.T, cfg envConfig) *env { return admintest.NewEnvConfig(t, cfg) }

func watch(t *testing.T, store *recordingStore, h http.Handler) http.Handler {
	return admintest.Watch(t, store, h)
}
