package admin

import (
	"strings"

	"github.com/go-apikey/apikey"
)

// Answers and log values for input that holds a key (apikey.LooksLikeKey)
// where none belongs, such as a key pasted in place of an ID: the key is
// never repeated, in a body or in a log line.
const (
	msgLooksLikeKey = "That looks like a key, not an ID"
	msgHoldsKey     = "The request holds what looks like an API key where none belongs; it is not repeated here"
	redactedKey     = "<looks like a key>"
)

// redactKeys returns s with each word (a run of letters, digits and '_',
// which is what a key with a valid prefix is made of) that holds a key
// replaced by redactedKey, so a log line keeps the rest of a path or an
// error; or all of s replaced, when a key is not within one word (one
// with a prefix no Manager issues, such as "sk-live").
func redactKeys(s string) string {
	if !apikey.LooksLikeKey(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isWordByte(s[j]) {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		if apikey.LooksLikeKey(s[i:j]) {
			b.WriteString(redactedKey)
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	if out := b.String(); !apikey.LooksLikeKey(out) {
		return out
	}
	return redactedKey
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
