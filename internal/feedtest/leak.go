package feedtest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Goroutines returns the stacks of the goroutines running code of this
// module, by goroutine ID, but for the caller's own.
func Goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		if i == 0 || !strings.Contains(s, "go-apikey/apikey") {
			continue // the first is the caller's
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(s, "goroutine "), " ")
		out[id] = s
	}
	return out
}

// RequireNoNewGoroutines fails t unless, within d, every goroutine of this
// module that was not in before has ended. It polls; it does not sleep d.
func RequireNoNewGoroutines(t testing.TB, before map[string]string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var leaked []string
		for id, stack := range Goroutines() {
			if _, ok := before[id]; !ok {
				leaked = append(leaked, stack)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines still running %v after the end:\n\n%s", len(leaked), d, strings.Join(leaked, "\n\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
