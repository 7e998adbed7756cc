package admin_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A key limited to IPv6 clients (::/0, or any range up to ::/80, all of
// which contain ::ffff:0:0/96) cannot make a key for every IPv4 client by
// asking for "::ffff:0.0.0.0/96", which is stored as 0.0.0.0/0: bounds
// compare ranges as they are stored (apikey.CanonicalPrefix). Found by
// review: they compared them as parsed.
func TestMappedRangeCannotEscapeBounds(t *testing.T) {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("::/0")}})
	require.NoError(t, err)
	h := admin.New(keys)
	req := httptest.NewRequest("POST", "/keys", strings.NewReader(`{"name":"v4","allowed_ips":["::ffff:0.0.0.0/96"]}`))
	req.RemoteAddr = "[2001:db8::7]:4242"
	req.Header.Set("X-API-Key", plain)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if !assert.Equal(t, 403, w.Code, "a key for IPv6 clients only made one for IPv4 clients") {
		var got struct {
			Plaintext string `json:"plaintext"`
			Key       struct {
				AllowedIPs []string `json:"allowed_ips"`
			} `json:"key"`
		}
		require.NoError(t, jsonUnmarshal(w.Body.Bytes(), &got))
		t.Logf("the new key is stored with allowed_ips %v", got.Key.AllowedIPs)
		// The caller's key is refused from an IPv4 client; the new one is not.
		_, err := keys.VerifyFrom(ctx, plain, netip.MustParseAddr("198.51.100.9"))
		assert.ErrorIs(t, err, apikey.ErrIPNotAllowed)
		_, err = keys.VerifyFrom(ctx, got.Plaintext, netip.MustParseAddr("198.51.100.9"))
		assert.ErrorIs(t, err, apikey.ErrIPNotAllowed, "the new key works from an IPv4 client")
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
