package apikey

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzParseKey: no input panics, and whatever ParseKey accepts has the
// exact shape the Manager issues, with a correct checksum.
func FuzzParseKey(f *testing.F) {
	k, _ := generateKey("ak")
	for _, seed := range []string{k, "", "ak_", "ak_" + strings.Repeat("0", bodyLen), k[:len(k)-1] + "0", "sk_live_" + k[3:], "é_" + k[3:], strings.Repeat("_", 80)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		prefix, err := ParseKey(key)
		if err != nil {
			if prefix != "" {
				t.Fatalf("error with a prefix %q", prefix)
			}
			return
		}
		if ValidatePrefix(prefix) != nil || !hasValidShape(key, prefix) || len(key) != len(prefix)+1+bodyLen {
			t.Fatalf("accepted a key of the wrong shape: %q", key)
		}
		if key[:len(key)-checksumLen] == "" || checksum(key[:len(key)-checksumLen]) != decodeChecksum(key[len(key)-checksumLen:]) {
			t.Fatalf("accepted a key with a wrong checksum: %q", key)
		}
	})
}

func decodeChecksum(s string) uint32 {
	var n uint64
	for i := 0; i < len(s); i++ {
		n = n*62 + uint64(strings.IndexByte(base62, s[i]))
	}
	return uint32(n)
}

// fuzzRequest builds the GET request a fuzz input describes. headers holds
// one header a line, "Name: value": the name is everything before the
// first ':', the value everything after it, less one space if a space
// follows the ':' (so "Name:  v" is " v"); a line without ':' is a name
// with an empty value, and empty lines are skipped. Names may be anything
// and repeat in any number; they are canonicalized as net/http's server
// does (so "x-api-key" and "X-API-KEY" both add to X-Api-Key), and kept
// as they are when they are not valid header names. vars, if not nil,
// replaces placeholders such as {key} in headers and rawQuery.
func fuzzRequest(headers, rawQuery string, vars *strings.Replacer) *http.Request {
	if vars != nil {
		headers, rawQuery = vars.Replace(headers), vars.Replace(rawQuery)
	}
	r := &http.Request{Method: http.MethodGet, Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Host: "example.com", RemoteAddr: "192.0.2.1:1234"}
	for line := range strings.SplitSeq(headers, "\n") {
		if line == "" {
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		r.Header.Add(name, value)
	}
	return r
}

// credentials is the README's account of where the middleware reads a
// key, written apart from the code that does it. It returns every
// credential r carries in the default sources (X-API-Key values,
// Authorization Bearer and Token tokens, x-api-key query values as readers
// splitting on '&' alone and readers splitting on ';' too see them; empty
// header and query values do not count), and whether any of them, or any
// Authorization value of those schemes, is malformed. Spaces and tabs
// around a header value are not part of it: HTTP/1.1 servers drop them,
// HTTP/2 ones may not.
func credentials(r *http.Request) (creds []string, malformed bool) {
	const ows = " \t"
	for _, v := range r.Header["X-Api-Key"] {
		if v = strings.Trim(v, ows); v != "" {
			creds = append(creds, v)
		}
	}
	for _, v := range r.Header["Authorization"] {
		v = strings.Trim(v, ows)
		scheme, token := v, ""
		spaced := false
		if i := strings.IndexAny(v, ows); i >= 0 {
			scheme, token, spaced = v[:i], v[i:], true
		}
		if !asciiEqualFold(scheme, "Bearer") && !asciiEqualFold(scheme, "Token") {
			continue // another scheme, or "Bearer\u00a0key", which is not Bearer
		}
		if !spaced {
			malformed = true // "Bearer" alone
			continue
		}
		token = strings.TrimLeft(token, ows)
		if strings.ContainsAny(token, " ,\t") {
			malformed = true // RFC 7235: one token, after whitespace
		}
		creds = append(creds, token)
	}
	// url.ParseQuery splits on '&' and skips pairs holding ';' or a bad
	// escape; on the query with every ';' made a '&', it reads as a reader
	// splitting on both does.
	amp, _ := url.ParseQuery(r.URL.RawQuery)
	both, _ := url.ParseQuery(strings.ReplaceAll(r.URL.RawQuery, ";", "&"))
	for _, v := range append(amp["x-api-key"], both["x-api-key"]...) {
		if v != "" {
			creds = append(creds, v)
		}
	}
	isKeyParam := func(name string) bool {
		n, err := url.QueryUnescape(name)
		return err == nil && n == "x-api-key"
	}
	for pair := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if name, value, _ := strings.Cut(pair, "="); isKeyParam(name) && strings.Contains(value, ";") {
			malformed = true // one value to some readers, a value and more pairs to others
		}
	}
	for part := range strings.FieldsFuncSeq(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
		if name, value, _ := strings.Cut(part, "="); isKeyParam(name) {
			if _, err := url.QueryUnescape(value); err != nil {
				malformed = true // a bad escape
			}
		}
	}
	for _, c := range creds {
		if len(c) > maxCredentialLen {
			malformed = true
		}
	}
	return creds, malformed
}

// asciiEqualFold reports whether a and b are equal ignoring ASCII case:
// an auth-scheme is an ASCII token, so "To\u212Aen" (Kelvin sign) is not
// "Token", though strings.EqualFold says it is.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// allEqual reports whether every element of ss is s.
func allEqual(ss []string, s string) bool {
	for _, x := range ss {
		if x != s {
			return false
		}
	}
	return true
}

// FuzzExtractKey: any set of headers (any names and values, repeated any
// number of times) and any query string never panic, and extraction
// matches the README exactly: a key is returned only when every
// credential the request carries is that key and none is malformed; two
// different credentials are a conflict, never a silent choice; a request
// with none is missing its key.
func FuzzExtractKey(f *testing.F) {
	f.Add("X-Api-Key: ak_x\nAuthorization: Bearer ak_x\nAuthorization: Token ak_x", "x-api-key=ak_x")
	f.Add("X-Api-Key: \nAuthorization: bearer  a\nAuthorization: BASIC x", "a=1;b=2&x-api-key=%zz")
	f.Add("X-Api-Key: "+strings.Repeat("k", 2000)+"\nAuthorization: Bearer a,b\nAuthorization: Token", "x%2Dapi%2Dkey=v&x-api-key=w")
	f.Add("x-api-key: a\nX-API-KEY: a\nX-Api-Key:\nauthorization: TOKEN a", "x-api-key=a&x-api-key=")
	f.Add("X-Api-Key: a\nX-Api-Key: b", "")
	f.Fuzz(func(t *testing.T, headers, rawQuery string) {
		r := fuzzRequest(headers, rawQuery, nil)
		ex, err := extractKey(r, DefaultSources(), nil)
		key := ex.key
		creds, malformed := credentials(r)
		distinct := len(creds) > 0 && !allEqual(creds, creds[0])
		switch {
		case err == nil:
			if key == "" || malformed || !allEqual(creds, key) || len(creds) == 0 {
				t.Fatalf("extracted %q from credentials %q (malformed: %v)", key, creds, malformed)
			}
			return
		case key != "":
			t.Fatalf("key %q returned with %v", key, err)
		case errors.Is(err, ErrConflictingKeys):
			if !distinct {
				t.Fatalf("conflict reported for credentials %q", creds)
			}
		case errors.Is(err, ErrMalformedKey):
			if !malformed {
				t.Fatalf("malformed reported for credentials %q", creds)
			}
		case errors.Is(err, ErrMissingKey):
			if len(creds) > 0 || malformed {
				t.Fatalf("missing reported for credentials %q (malformed: %v)", creds, malformed)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if !malformed && !distinct && len(creds) > 0 {
			t.Fatalf("%v for the one credential %q", err, creds[0])
		}
		if !malformed && distinct && !errors.Is(err, ErrConflictingKeys) {
			t.Fatalf("%v for the different credentials %q", err, creds)
		}
	})
}

// FuzzMiddleware: whatever headers and query a client sends, the handler
// runs only with the one key issued, a 200 comes exactly when every
// credential the request carries is that key, and never for a malformed
// key. Inputs may name the issued key as {key}, a disabled one as
// {disabled} and a well-formed key never issued as {unknown}.
func FuzzMiddleware(f *testing.F) {
	ctx := context.Background()
	m := New(NewMemoryStore(), WithLastUsedInterval(0))
	issued, key, err := m.Create(ctx, NewKey{Owner: "alice"})
	if err != nil {
		f.Fatal(err)
	}
	disabled, off, err := m.Create(ctx, NewKey{Owner: "bob"})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := m.Disable(ctx, off.ID); err != nil {
		f.Fatal(err)
	}
	unknown, err := generateKey(DefaultPrefix)
	if err != nil {
		f.Fatal(err)
	}
	vars := strings.NewReplacer("{key}", issued, "{disabled}", disabled, "{unknown}", unknown)
	// A failure names the keys by their placeholders: test output is a log
	// like any other, and no key is ever written to one.
	names := strings.NewReplacer(issued, "{key}", disabled, "{disabled}", unknown, "{unknown}")
	fail := func(t *testing.T, format string, args ...any) {
		t.Helper()
		t.Fatal(names.Replace(fmt.Sprintf(format, args...)))
	}
	f.Add("X-Api-Key: {key}", "")
	f.Add("Authorization: Bearer {key}", "")
	f.Add("", "x-api-key={key}")
	f.Add("X-Api-Key: "+issued[:len(issued)-1]+"A\nAuthorization: Token {key}", "x-api-key={key}")
	f.Add("X-Api-Key: ak_"+strings.Repeat("z", bodyLen)+"\nAuthorization: bearer\t{key}", "%")
	f.Add("x-api-key: {key}\nX-API-KEY: {key}\nAuthorization: token   {key}\nAuthorization: Basic Zm9v", "x-api-key={key}&x-api-key=")
	f.Add("X-Api-Key: {key}\nAuthorization: Bearer {disabled}", "")
	f.Add("Authorization: Bearer {unknown}", "")
	h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := FromContext(r.Context()); !ok || p.Owner != "alice" || p.KeyID != key.ID {
			panic("handler ran without the issued key's principal")
		}
		w.WriteHeader(http.StatusOK)
	}))
	f.Fuzz(func(t *testing.T, headers, rawQuery string) {
		r := fuzzRequest(headers, rawQuery, vars)
		creds, malformed := credentials(r)
		w := httptest.NewRecorder()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
		if w.Code == http.StatusServiceUnavailable && ctx.Err() != nil {
			return // the machine stalled for a second; not the middleware's doing
		}
		for _, c := range creds {
			if _, err := ParseKey(c); err != nil && w.Code == http.StatusOK {
				fail(t, "200 with the malformed key %q among %q", c, creds)
			}
		}
		want := http.StatusUnauthorized
		switch {
		case !malformed && len(creds) > 0 && allEqual(creds, issued):
			want = http.StatusOK
		case len(creds) > 0 && !allEqual(creds, creds[0]):
			if !malformed {
				want = http.StatusBadRequest
			} else if w.Code == http.StatusBadRequest {
				want = w.Code // the conflict was found before the malformed one
			}
		}
		if w.Code != want {
			fail(t, "%d, not %d, for credentials %q (malformed: %v): %s", w.Code, want, creds, malformed, w.Body)
		}
	})
}
