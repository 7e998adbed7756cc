package apikeytest_test

import (
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
)

// The suite runs on a store written with the public API alone.
func TestSliceStore(t *testing.T) {
	apikeytest.TestStore(t, func(*testing.T) apikey.Store { return &sliceStore{} })
}

// The memory limiter passes the Limiter suite.
func TestMemoryLimiter(t *testing.T) {
	apikeytest.TestLimiter(t, func(*testing.T) apikey.Limiter { return apikey.NewMemoryLimiter() }, false)
}
