package cli

import (
	"strings"
	"testing"
)

// mistype changes the last character of key: what a user pastes with a
// typo, or a key cut one character short. Its CRC no longer matches, so
// LooksLikeKey is false, yet the checksum lets anyone recover the real
// key from it offline (30 positions x 61 characters to try).
func mistype(key string) string {
	last := key[len(key)-1]
	c := byte('a')
	if last == 'a' {
		c = 'b'
	}
	return key[:len(key)-1] + string(c)
}

// A key with one character mistyped, given as an ID or a flag value, is
// refused like a key, not printed back (list --owner), nor stored and
// printed (create --owner, --name). Found by review: the filter took
// only keys whose checksum holds.
func TestMistypedKeyAsArgument(t *testing.T) {
	c := newEnv(t)
	key := c.create("--owner", "alice").Plaintext
	bad := mistype(key)
	secret := key[strings.LastIndexByte(key, '_')+1 : len(key)-6]
	for _, args := range [][]string{
		{"show", bad},
		{"list", "--owner", bad},
		{"create", "--owner", bad},
		{"create", "--owner", "alice", "--name", bad},
		{"list", "--db", c.db, "--table", bad},
	} {
		var r result
		if args[1] == "--db" {
			r = c.runRaw(args...)
		} else {
			r = c.run(args...)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("apikey %s <mistyped key>: the output holds the key's secret (exit %d)", strings.Join(args[:len(args)-1], " "), r.code)
		}
	}
}
