package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/go-apikey/apikey"
)

// holdsKey reports whether s holds key, 16 characters of its secret in a
// row, or anything else that looks like a key.
func holdsKey(s, key string) bool {
	secret := key[strings.LastIndexByte(key, '_')+1:]
	for i := 0; i+16 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+16]) {
			return true
		}
	}
	return apikey.LooksLikeKey(s)
}

// withheld returns s for a failure message, unless it holds a key: a
// failing test must not print one either.
func withheld(s string) string {
	if apikey.LooksLikeKey(s) {
		return "(output withheld: it holds a key)"
	}
	return s
}

// A key given anywhere on the command line (where an ID belongs, as a flag
// value, a flag name, a command name or a help topic) is refused before
// the database is opened, by its place alone: no output holds it.
func TestKeyGivenAsArgument(t *testing.T) {
	keys := newEnv(t)
	key := keys.create("--owner", "alice").Plaintext
	c := newEnv(t) // another database, to see that nothing opens it
	// Were a key taken for a setting, what it made would land here; and
	// serve, were it to start, fails to listen rather than run on.
	t.Chdir(t.TempDir())
	c.env = map[string]string{"APIKEY_DB": c.db}

	var lines [][]string
	for _, cmd := range append(commandNames(), "update", "help") {
		lines = append(lines,
			[]string{cmd, key},
			[]string{cmd, key + "\n"},
			[]string{cmd, "Bearer " + key},
			[]string{cmd, "01JDXW6E4Z9V1Q8G3K2M5N7P0R", key},
			[]string{cmd, "--owner", key},
			[]string{cmd, "--name=" + key},
			[]string{cmd, "--limit", key},
			[]string{cmd, "--" + key},
			[]string{cmd, "--", key},
			[]string{"--db", key, cmd},
		)
	}
	lines = append(lines, []string{key}, []string{key, "list"}, []string{"--json", key})
	for _, args := range lines {
		if slices.Contains(args, "serve") {
			args = append(args, "--addr", "256.0.0.1:1")
		}
		r := c.runRaw(args...)
		// Name a case by its command and the key's place: its words hold
		// the key.
		at := 0
		for i, a := range args {
			if strings.Contains(a, key) {
				at = i + 1
			}
		}
		name := fmt.Sprintf("%s, key at %d", args[0], at)
		if args[0] == key {
			name = fmt.Sprintf("key as the command, then %d words", len(args)-1)
		}
		if holdsKey(r.stdout+r.stderr, key) {
			t.Errorf("%s: the output holds the key", name)
			continue
		}
		assert.Equal(t, ExitUsage, r.code, name)
		assert.Equal(t, fmt.Sprintf(keyArgument, at), r.stderr, name)
		assert.Empty(t, r.stdout, name)
	}
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "no database was opened")
	assert.Contains(t, keys.ok("list"), "alice", "the key is untouched")
}

func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return names
}

// The message names the argument, so a user finds which one it was
// without seeing it.
func TestKeyArgumentMessage(t *testing.T) {
	c := newEnv(t)
	key := c.create("--owner", "alice").Plaintext
	r := c.runRaw("show", key, "--db", filepath.Join(t.TempDir(), "x.db"))
	if holdsKey(r.stderr, key) {
		t.Fatal("the message holds the key")
	}
	assert.Equal(t, "apikey: argument 2: that looks like a key, not an ID. No command takes a key: "+
		"it was not used, and is not repeated here. 'apikey list' shows each key's ID.\n", r.stderr)
}
