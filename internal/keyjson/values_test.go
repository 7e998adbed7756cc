package keyjson

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d":   30 * 24 * time.Hour,
		"0d":    0,
		"-1d":   -24 * time.Hour,
		"720h":  720 * time.Hour,
		"1h30m": 90 * time.Minute,
		"30s":   30 * time.Second,
		"0":     0,
	} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "xd", "1.5d", "1d12h", "36501d", "a month", "30 d", "9999999999999d"} {
		_, err := ParseDuration(in)
		assert.EqualError(t, err, "want a duration such as 30d, 720h, 90m or 30s", in)
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":    "10.0.0.0/8",
		"10.1.2.3/8":    "10.1.2.3/8", // masked where it is stored
		"192.0.2.7":     "192.0.2.7/32",
		"2001:db8::1":   "2001:db8::1/128",
		"2001:db8::/32": "2001:db8::/32",
	} {
		got, err := ParsePrefix(in)
		require.NoError(t, err, in)
		assert.Equal(t, netip.MustParsePrefix(want), got, in)
	}
	for _, in := range []string{"", "10.0.0.0/33", "example.com", "10.0.0", "10.0.0.0/8,10.1.0.0/16"} {
		_, err := ParsePrefix(in)
		assert.Error(t, err, in)
	}
}
