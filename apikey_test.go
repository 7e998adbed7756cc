package apikey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGenerateKeyShape(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k, err := generateKey("lbk")
		require.NoError(t, err)
		require.Len(t, k, len("lbk_")+bodyLen)
		require.True(t, strings.HasPrefix(k, "lbk_"))
		for _, c := range k[4:] {
			require.Contains(t, base62, string(c))
		}
		prefix, err := ParseKey(k)
		require.NoError(t, err)
		assert.Equal(t, "lbk", prefix)
		assert.Equal(t, k[:8], keyStart(k))
		require.False(t, seen[k], "generated the same key twice")
		seen[k] = true
	}
}

func TestGenerateKeyUsesWholeAlphabet(t *testing.T) {
	// 20,000 keys × 30 characters: every base62 digit should show up about
	// 9,677 times (a standard deviation of about 97). A truncated alphabet
	// misses some; a byte taken modulo 62 instead of rejection sampling
	// gives the first 8 digits 25% more than the rest, far outside 5%.
	counts := map[rune]int{}
	const keys = 20_000
	for range keys {
		k, err := generateKey("ak")
		require.NoError(t, err)
		for _, c := range k[3 : 3+secretLen] {
			counts[c]++
		}
	}
	require.Len(t, counts, 62)
	want := float64(keys*secretLen) / 62
	for c, n := range counts {
		assert.InDelta(t, want, float64(n), want*0.05, "digit %q", c)
	}
}

func TestParseKey(t *testing.T) {
	valid, err := generateKey("sk_live")
	require.NoError(t, err)
	body := valid[len("sk_live_"):]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name, key, prefix string
	}{
		{"valid with underscore prefix", valid, "sk_live"},
		{"empty", "", ""},
		{"prefix only", "sk_live_", ""},
		{"truncated", valid[:len(valid)-1], ""},
		{"one extra character", valid + "a", ""},
		{"wrong checksum", flip(valid, len(valid)-1), ""},
		{"changed secret", flip(valid, len("sk_live_")+3), ""},
		{"other prefix, same body", "ak_" + body, ""},
		{"no separator", "sklive" + body, ""},
		{"non-ASCII in body", valid[:len(valid)-7] + "é" + valid[len(valid)-5:], ""},
		{"space in body", valid[:10] + " " + valid[11:], ""},
		{"prefix starting with digit", "9k_" + body, ""},
		{"prefix too long", strings.Repeat("a", MaxPrefixLen+1) + "_" + body, ""},
		{"huge", strings.Repeat("a", 1<<16), ""},
		{"checksum overflow", valid[:len(valid)-checksumLen] + "zzzzzz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix, err := ParseKey(tt.key)
			if tt.prefix == "" {
				require.ErrorIs(t, err, ErrMalformedKey)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.prefix, prefix)
		})
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"ak", "lbk", "sk_live", "A", "x9", strings.Repeat("a", MaxPrefixLen)} {
		assert.NoError(t, ValidatePrefix(p), p)
	}
	for _, p := range []string{"", "_a", "a_", "9a", "a-b", "a b", "ä", strings.Repeat("a", MaxPrefixLen+1)} {
		assert.ErrorIs(t, ValidatePrefix(p), ErrInvalidInput, p)
	}
}

func TestChecksumMatchesCRC32(t *testing.T) {
	// The hand-rolled loop must be CRC-32 IEEE, the checksum GitHub's
	// secret scanners compute: check it on the standard test vector.
	assert.Equal(t, uint32(0xCBF43926), checksum("123456789"))
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var gen idGenerator
	newID := gen.next
	a, err := newID(t0)
	require.NoError(t, err)
	b, err := newID(t0.Add(time.Millisecond))
	require.NoError(t, err)
	require.Len(t, a, 26)
	assert.Less(t, a, b)
	c, err := newID(t0.Add(time.Millisecond))
	require.NoError(t, err)
	assert.Less(t, b, c, "the same millisecond still gives increasing IDs")
	d, err := newID(t0)
	require.NoError(t, err)
	assert.Less(t, c, d, "a clock that steps back still gives increasing IDs")
	e, err := newID(t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Less(t, d, e)
	assert.NotEqual(t, d[:10], e[:10], "the first 10 characters encode the time")
}

func TestContextHelpers(t *testing.T) {
	_, ok := FromContext(context.Background())
	assert.False(t, ok)
	p := Principal{KeyID: "k1", Owner: "alice"}.WithScopes("read")
	got, ok := FromContext(NewContext(context.Background(), p))
	require.True(t, ok)
	assert.Equal(t, p, got)
	assert.True(t, got.HasScope("read"))
	assert.False(t, got.HasScope("write"))
}

func TestCloneIsDeep(t *testing.T) {
	k := Key{Scopes: []string{"a"}, Metadata: map[string]string{"x": "1"}, Digest: []byte{1}}
	c := k.Clone()
	c.Scopes[0], c.Metadata["x"], c.Digest[0] = "b", "2", 2
	assert.Equal(t, "a", k.Scopes[0])
	assert.Equal(t, "1", k.Metadata["x"])
	assert.Equal(t, byte(1), k.Digest[0])
	p := Principal{}.WithScopes("a").WithMetadata(map[string]string{"x": "1"})
	scopes, meta := p.Scopes(), p.Metadata()
	scopes[0], meta["x"] = "b", "2"
	assert.Equal(t, []string{"a"}, p.Scopes(), "Scopes returns a copy")
	v, ok := p.MetadataValue("x")
	assert.True(t, ok)
	assert.Equal(t, "1", v, "Metadata returns a copy")
}

func TestAuthContextKeepsParent(t *testing.T) {
	type other struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), other{}, "kept"))
	ctx := NewContext(parent, Principal{Owner: "alice"})
	assert.Equal(t, "kept", ctx.Value(other{}), "other values pass through")
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	cancel()
	<-child.Done() // cancellation propagates through the auth context
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	p, ok := FromContext(child)
	assert.True(t, ok)
	assert.Equal(t, "alice", p.Owner)
	// A nested principal shadows the outer one, as WithValue would.
	inner, _ := FromContext(NewContext(child, Principal{Owner: "bob"}))
	assert.Equal(t, "bob", inner.Owner)
}

func TestKeyPrefix(t *testing.T) {
	for start, want := range map[string]string{
		"sk_live_4qGZ": "sk_live",
		"ak_0000":      "ak",
		"":             "",
		"noprefix":     "",
		"_4qGZ":        "",
		"9x_4qGZ":      "",
	} {
		assert.Equal(t, want, Key{Start: start}.Prefix(), "Start %q", start)
	}
	k, err := generateKey("lbk")
	require.NoError(t, err)
	assert.Equal(t, "lbk", Key{Start: keyStart(k)}.Prefix())
}
