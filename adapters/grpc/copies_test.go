package apikeygrpc

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Go modules share no unexported code, so the ogen and oapicodegen
// adapters each hold a copy of refuse.go (the header rules are the core's
// apikey.OneKey). This test fails when a copy drifts; it skips when the
// module is not in its repository, beside the others.
func TestCopiesAreTheSame(t *testing.T) {
	pkg := regexp.MustCompile(`(?m)^package \w+$`)
	for file, dirs := range map[string][]string{
		"refuse.go": {"../ogen", "../oapicodegen"},
	} {
		var first string
		for i, dir := range dirs {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if os.IsNotExist(err) {
				t.Skipf("%s: not beside the other adapters", filepath.Join(dir, file))
			}
			if err != nil {
				t.Fatal(err)
			}
			text := pkg.ReplaceAllString(string(b), "package _")
			if i == 0 {
				first = text
				continue
			}
			assert.Equal(t, first, text, "%s differs from %s", filepath.Join(dir, file), filepath.Join(dirs[0], file))
		}
	}
}
