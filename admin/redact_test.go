package admin

import (
	"context"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// redactKeys keeps what a log line needs and drops every key; the routes
// never log a path that holds one (the Manager refuses such an ID first),
// so this is checked here rather than through a request.
func TestRedactKeys(t *testing.T) {
	m := apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("sk_live"))
	defer m.Close()
	plain, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "a"})
	require.NoError(t, err)
	hyphen := keyWithPrefix("sk-live", plain[len("sk_live_"):][:30])
	require.True(t, apikey.LooksLikeKey(hyphen))
	for in, want := range map[string]string{
		"/keys/01JDXW6E4Z9V1Q8G3K2M5N7P0R":          "/keys/01JDXW6E4Z9V1Q8G3K2M5N7P0R",
		"/keys/" + plain:                            "/keys/<looks like a key>",
		"/keys/" + plain + "/rotate":                "/keys/<looks like a key>/rotate",
		"/keys/x" + plain + "y\n":                   "/keys/<looks like a key>\n",
		"get " + plain + ": database is down":       "get <looks like a key>: database is down",
		`after "` + plain + `" and "` + plain + `"`: `after "<looks like a key>" and "<looks like a key>"`,
		// A key that is not one word: all of it goes.
		"/keys/" + hyphen: "<looks like a key>",
	} {
		got := redactKeys(in)
		if apikey.LooksLikeKey(got) {
			t.Errorf("redactKeys left a key in %q", got[:8])
			continue
		}
		assert.Equal(t, want, got)
	}
}

// keyWithPrefix builds a key from a 30-character secret under any prefix,
// with the package's checksum: CRC-32 (IEEE) of "<prefix>_<secret>" as 6
// base62 digits.
func keyWithPrefix(prefix, secret string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	head := prefix + "_" + secret
	sum := crc32.ChecksumIEEE([]byte(head))
	var digits [6]byte
	for i := 5; i >= 0; i-- {
		digits[i] = base62[sum%62]
		sum /= 62
	}
	return head + string(digits[:])
}
