package apikey_test

import (
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) apikey.Store { return apikey.NewMemoryStore() })
}
