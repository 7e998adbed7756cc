package apikey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSHA256Hasher(t *testing.T) {
	h := SHA256()
	assert.Equal(t, "sha256", h.ID())
	sum := sha256.Sum256([]byte("ak_x"))
	assert.Equal(t, sum[:], h.Sum(nil, "ak_x"))
}

func TestHMACSHA256Hasher(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	h, err := HMACSHA256("2026", secret)
	require.NoError(t, err)
	assert.Equal(t, "hmac-sha256:2026", h.ID())
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("ak_x"))
	want := mac.Sum(nil)
	// Pooled MACs must be reset between uses, from any goroutine.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				assert.Equal(t, hex.EncodeToString(want), hex.EncodeToString(h.Sum(nil, "ak_x")))
			}
		})
	}
	wg.Wait()
	assert.NotEqual(t, SHA256().Sum(nil, "ak_x"), h.Sum(nil, "ak_x"))

	// Changing the caller's secret slice afterwards must not change digests.
	secret[0] = 'X'
	assert.Equal(t, want, h.Sum(nil, "ak_x"))
}

func TestHMACSHA256Refuses(t *testing.T) {
	long := make([]byte, MinSecretLen)
	for _, tt := range []struct {
		id     string
		secret []byte
	}{
		{"", long},
		{"has space", long},
		{"v1", long[:MinSecretLen-1]},
		{"v1", nil},
	} {
		_, err := HMACSHA256(tt.id, tt.secret)
		assert.ErrorIs(t, err, ErrInvalidInput)
	}
}

func TestEqualDigests(t *testing.T) {
	assert.True(t, equalDigests([]byte{1, 2}, []byte{1, 2}))
	assert.False(t, equalDigests([]byte{1, 2}, []byte{1, 3}))
	assert.False(t, equalDigests([]byte{1, 2}, []byte{1}))
	assert.False(t, equalDigests(nil, []byte{1}))
}

func TestHasherSumAppends(t *testing.T) {
	pepper, err := HMACSHA256("v1", make([]byte, 32))
	require.NoError(t, err)
	for _, h := range []Hasher{SHA256(), pepper} {
		prefix := []byte("head")
		out := h.Sum(prefix, "ak_x")
		assert.Equal(t, "head", string(out[:4]), h.ID())
		assert.Equal(t, h.Sum(nil, "ak_x"), out[4:], h.ID())
		buf := make([]byte, 0, 64)
		assert.Equal(t, h.Sum(nil, "ak_x"), h.Sum(buf, "ak_x"), h.ID())
	}
}
