package apikey_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/apikeytest"
	"github.com/stretchr/testify/assert"
)

func TestMemoryStore(t *testing.T) {
	apikeytest.TestStore(t, func(*testing.T) apikey.Store { return apikey.NewMemoryStore() })
}

// Key.Updated is the one list of the fields a Store's Update stores: it
// takes those from changed, as copies, and keeps the others.
func TestKeyUpdated(t *testing.T) {
	uses := int64(3)
	old := apikey.Key{ID: "k1", Owner: "alice", Digest: []byte{1, 2}, Hash: "sha256", Start: "ak_x",
		CreatedAt: time.Unix(1, 0), LastUsedAt: time.Unix(2, 0)}
	changed := apikey.Key{ID: "other", Owner: "bob", Name: "n", Description: "d", Scopes: []string{"a"},
		Metadata: map[string]string{"k": "v"}, Enabled: true, ExpiresAt: time.Unix(3, 0), UpdatedAt: time.Unix(4, 0),
		RateLimit: apikey.RateLimit{Limit: 1, Window: time.Second}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		RemainingUses: &uses, RotatedTo: "k2", CreatedBy: "k0", DisabledBy: "k9",
		Digest: []byte{9}, Hash: "hmac", Start: "sk_y", CreatedAt: time.Unix(5, 0), LastUsedAt: time.Unix(6, 0)}
	got := old.Updated(changed)
	want := changed
	want.ID, want.Digest, want.Hash, want.Start, want.CreatedAt, want.LastUsedAt = old.ID, old.Digest, old.Hash, old.Start, old.CreatedAt, old.LastUsedAt
	assert.Equal(t, want, got)
	changed.Scopes[0], changed.Metadata["k"], changed.AllowedIPs[0], uses = "b", "w", netip.Prefix{}, 4
	assert.Equal(t, []string{"a"}, got.Scopes, "copies, not shared")
	assert.Equal(t, "v", got.Metadata["k"])
	assert.Equal(t, netip.MustParsePrefix("10.0.0.0/8"), got.AllowedIPs[0])
	assert.Equal(t, int64(3), *got.RemainingUses)
}
