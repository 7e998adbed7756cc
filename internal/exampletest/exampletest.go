// Package exampletest runs the example programs as a new user would: it
// starts one, reads what it prints and makes the requests its curl lines
// describe.
package exampletest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-apikey/apikey/internal/testkit"
)

// RunFunc is an example's entry point: serve on addr until ctx is done,
// printing how to use the service to out first.
type RunFunc func(ctx context.Context, addr string, out io.Writer) error

// Start runs an example on a free loopback port and returns what it printed
// once it has printed want. The example is stopped, and must return nil,
// when the test ends.
func Start(t *testing.T, run RunFunc, want string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testkit.LockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("example returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("example did not stop within 10s")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("example stopped early (%v); it printed:\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("example did not print %q within 10s; it printed:\n%s", want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out.String()
}

// CurlLines returns the curl commands in an example's output.
func CurlLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "curl ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// Curl turns a printed curl command into the request curl would send. It
// understands -X METHOD, -H 'Name: value', -d 'body', -i (which only
// changes what curl prints) and a URL, with single-quoted words, which is
// all the examples print.
func Curl(line string) (*http.Request, error) {
	words, err := splitWords(line)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 || words[0] != "curl" {
		return nil, fmt.Errorf("not a curl line: %q", line)
	}
	method, url, body := "", "", ""
	var headers [][2]string
	for i := 1; i < len(words); i++ {
		switch w := words[i]; w {
		case "-i":
		case "-X", "-H", "-d":
			if i+1 == len(words) {
				return nil, fmt.Errorf("%s without a value in %q", w, line)
			}
			i++
			switch w {
			case "-X":
				method = words[i]
			case "-d":
				body = words[i]
			default:
				name, value, ok := strings.Cut(words[i], ":")
				if !ok {
					return nil, fmt.Errorf("bad header %q", words[i])
				}
				headers = append(headers, [2]string{name, strings.TrimSpace(value)})
			}
		default:
			if strings.HasPrefix(w, "-") {
				return nil, fmt.Errorf("unknown curl flag %q", w)
			}
			url = w
		}
	}
	if method == "" {
		method = http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, err
	}
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	return req, nil
}

// Do sends a printed curl command and returns the status and body.
func Do(t *testing.T, line string) (int, string) {
	t.Helper()
	req, err := Curl(line)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: reading body: %v", line, err)
	}
	return resp.StatusCode, string(b)
}

// splitWords splits a command line on spaces, keeping single-quoted words
// whole, as a POSIX shell does.
func splitWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '#':
			if !inWord {
				return words, nil // a comment ends the command
			}
			cur.WriteRune(r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
