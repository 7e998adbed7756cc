package apikey_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-apikey/apikey"
)

// The suite-wide log scan (SECURITY.md: "No key in logs"). Every Manager
// made by newManager logs at Debug, and its decisions through SlogObserver,
// into suiteLog, as does slog.Default; mustCreate and the other helpers
// remember each plaintext they issue. After the run, TestMain fails it if
// a log line holds any remembered key, any 16 characters of its secret, or
// anything else that parses as a key (a checksum-valid <prefix>_<36
// base62>), which also catches keys tests issue with Manager.Create or
// Rotate directly. Reading the log once costs milliseconds.

// lockedBuffer is a bytes.Buffer that many loggers may write concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

var (
	suiteLog    lockedBuffer
	suiteLogger = slog.New(slog.NewJSONHandler(&suiteLog, &slog.HandlerOptions{Level: slog.LevelDebug}))

	issuedMu sync.Mutex
	issued   []string // every plaintext the helpers issued
)

// rememberKeys notes plaintext keys for the log scan.
func rememberKeys(plains ...string) {
	issuedMu.Lock()
	issued = append(issued, plains...)
	issuedMu.Unlock()
}

func TestMain(m *testing.M) {
	// Managers made without WithLogger log to slog.Default: scan that too,
	// and still show it on stderr as before.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, &suiteLog), nil)))
	code := m.Run()
	issuedMu.Lock()
	keys := issued
	issuedMu.Unlock()
	if leaks := scanForKeys(suiteLog.bytes(), keys); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d log lines hold a key or part of one (SECURITY.md: no key in logs):\n", len(leaks))
		for i, l := range leaks {
			if i == 20 {
				fmt.Fprintf(os.Stderr, "\t…\n")
				break
			}
			fmt.Fprintf(os.Stderr, "\t%s\n", l)
		}
		code = 1
	}
	os.Exit(code)
}

// runLen is how many consecutive secret characters count as a leak: more
// than the 4 of Key.Start, far too many to match by chance.
const runLen = 16

func isBase62(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// secretOf returns the part of plain after its prefix.
func secretOf(plain string) string { return plain[strings.LastIndexByte(plain, '_')+1:] }

// scanForKeys returns the lines of logs that hold one of keys, runLen
// characters of one's secret, or any string that parses as a key. It reads
// logs once: windows of runs of base62 characters are looked up in a set,
// and only keys of another shape (static keys) are searched for whole.
func scanForKeys(logs []byte, keys []string) []string {
	windows := map[string]string{} // runLen characters of a secret -> its key's Start
	var odd []string               // keys that are not runs of base62 characters
	for _, k := range keys {
		s := secretOf(k)
		if len(s) < runLen || strings.IndexFunc(s, func(r rune) bool { return r > 0x7f || !isBase62(byte(r)) }) >= 0 {
			odd = append(odd, k)
			continue
		}
		for i := 0; i+runLen <= len(s); i++ {
			windows[s[i:i+runLen]] = k[:len(k)-len(s)+4]
		}
	}
	var leaks []string
	for line := range bytes.Lines(logs) {
		if why := lineLeak(line, windows, odd); why != "" {
			leaks = append(leaks, why+": "+strings.TrimSpace(string(line)))
		}
	}
	return leaks
}

func lineLeak(line []byte, windows map[string]string, odd []string) string {
	for _, k := range odd {
		if bytes.Contains(line, []byte(k)) {
			return "a static key"
		}
	}
	for i := 0; i < len(line); {
		if !isBase62(line[i]) {
			i++
			continue
		}
		j := i
		for j < len(line) && isBase62(line[j]) {
			j++
		}
		for w := i; w+runLen <= j; w++ {
			if start, ok := windows[string(line[w:w+runLen])]; ok {
				return "part of key " + start + "…"
			}
		}
		// A whole key: <prefix>_<36 base62> with a valid checksum.
		if j-i >= 36 && i > 1 && line[i-1] == '_' {
			for p := max(0, i-1-apikey.MaxPrefixLen); p < i-1; p++ {
				if _, err := apikey.ParseKey(string(line[p : i+36])); err == nil {
					return "a key with prefix " + string(line[p:i-1])
				}
			}
		}
		i = j
	}
	return ""
}

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
	secret := secretOf(remembered)
	for _, tc := range []struct {
		line string
		leak bool
	}{
		{`{"msg":"ok","key_id":"01JDXW6E4Z9V1Q8G3K2M5N7P0R","start":"` + remembered[:12] + `"}`, false},
		{`{"key":"` + remembered + `"}`, true},
		{`{"secret":"` + secret + `"}`, true},
		{`{"tampered":"x` + secret[3:3+runLen] + `!"}`, true},
		{`{"key":"` + unremembered + `"}`, true},
		{`{"key":"` + unremembered[:len(unremembered)-1] + `"}`, false}, // not a key any more
		{`{"static":"` + static + `"}`, true},
		{`{"reason":"apikey: malformed API key","latency":"1.2µs"}`, false},
	} {
		got := scanForKeys([]byte(tc.line+"\n"), keys)
		if (len(got) > 0) != tc.leak {
			t.Errorf("scan of %s: %q, want leak %v", tc.line, got, tc.leak)
		}
	}
}
