package apikey_test

import (
	"testing"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/testkit"
)

// The suite-wide log scan (SECURITY.md: "No key in logs"). Every Manager
// made by newManager logs at Debug, and its decisions through SlogObserver,
// into suiteLog, as does slog.Default; mustCreate and the other helpers
// remember each plaintext they issue. After the run, TestMain fails it if
// a log line holds any remembered key, any 16 characters of its secret, or
// anything else that parses as a key (a checksum-valid <prefix>_<36
// base62>), which also catches keys tests issue with Manager.Create or
// Rotate directly. Reading the log once costs milliseconds.

// The scan finds what it is meant to find, and nothing in clean logs.
func TestScanForKeys(t *testing.T) {
	m := newManager(t, apikey.NewMemoryStore(), apikey.WithPrefix("sk_live"))
	remembered, _ := mustCreate(t, m, apikey.NewKey{})
	unremembered, _, err := m.Create(t.Context(), apikey.NewKey{Owner: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	rememberKeys(unremembered)
	const static = "static-key-0123456789"
	keys := []string{remembered, static} // not unremembered: found by its checksum
	secret := testkit.SecretOf(remembered)
	for _, tc := range []struct {
		line string
		leak bool
	}{
		{`{"msg":"ok","key_id":"01JDXW6E4Z9V1Q8G3K2M5N7P0R","start":"` + remembered[:12] + `"}`, false},
		{`{"key":"` + remembered + `"}`, true},
		{`{"secret":"` + secret + `"}`, true},
		{`{"tampered":"x` + secret[3:3+testkit.RunLen] + `!"}`, true},
		{`{"key":"` + unremembered + `"}`, true},
		{`{"key":"` + unremembered[:len(unremembered)-1] + `"}`, false}, // not a key any more
		{`{"static":"` + static + `"}`, true},
		{`{"reason":"apikey: malformed API key","latency":"1.2µs"}`, false},
	} {
		got := testkit.ScanForKeys([]byte(tc.line+"\n"), keys)
		if (len(got) > 0) != tc.leak {
			t.Errorf("scan of %s: %q, want leak %v", tc.line, got, tc.leak)
		}
	}
}
