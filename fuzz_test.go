package apikey

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
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

// FuzzExtractKey: arbitrary header and query values never panic, and a key
// the middleware extracts is one of them, whole, and not oversized.
func FuzzExtractKey(f *testing.F) {
	f.Add("ak_x", "Bearer ak_x", "Token ak_x", "x-api-key=ak_x")
	f.Add("", "bearer  a", "BASIC x", "a=1;b=2&x-api-key=%zz")
	f.Add(strings.Repeat("k", 2000), "Bearer a,b", "Token", "x%2Dapi%2Dkey=v&x-api-key=w")
	f.Fuzz(func(t *testing.T, header, auth1, auth2, rawQuery string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/", RawQuery: rawQuery}}
		r.Header["X-Api-Key"] = []string{header}
		r.Header["Authorization"] = []string{auth1, auth2}
		key, err := extractKey(r, DefaultSources())
		if err != nil {
			if key != "" {
				t.Fatal("a key returned with an error")
			}
			return
		}
		if key == "" || len(key) > maxCredentialLen {
			t.Fatalf("extracted %q", key)
		}
		q, _ := url.ParseQuery(rawQuery)
		// A header or query value is the whole credential (Verify refuses
		// one with a space for its shape); an Authorization token must not
		// hold a space or a comma at all (RFC 7235).
		if key != header && !slices.Contains(q["x-api-key"], key) && strings.ContainsAny(key, " ,\t") {
			t.Fatalf("Authorization gave a token with a space or comma: %q", key)
		}
		candidates := append([]string{header}, q["x-api-key"]...)
		for _, a := range []string{auth1, auth2} {
			if i := strings.IndexByte(a, ' '); i > 0 {
				candidates = append(candidates, strings.TrimLeft(a[i:], " "))
			}
		}
		for _, c := range candidates {
			if c == key {
				return
			}
		}
		if !strings.Contains(rawQuery, url.QueryEscape(key)) && !strings.Contains(rawQuery, key) {
			t.Fatalf("extracted %q, which no input holds", key)
		}
	})
}

// FuzzMiddleware: whatever a client sends, the handler runs only with the
// one key issued, and only a 200 reaches it.
func FuzzMiddleware(f *testing.F) {
	m := New(NewMemoryStore(), WithLastUsedInterval(0))
	issued, _, err := m.Create(context.Background(), NewKey{Owner: "alice"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(issued, "", "")
	f.Add("", "Bearer "+issued, "")
	f.Add("", "", "x-api-key="+issued)
	f.Add(issued[:len(issued)-1]+"A", "Token "+issued, "x-api-key="+issued)
	f.Add("ak_"+strings.Repeat("z", bodyLen), "bearer\t"+issued, "%")
	h := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := FromContext(r.Context()); !ok || p.Owner != "alice" {
			panic("handler ran without the issued key's principal")
		}
		w.WriteHeader(http.StatusOK)
	}))
	f.Fuzz(func(t *testing.T, header, auth, rawQuery string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = rawQuery
		if header != "" {
			r.Header["X-Api-Key"] = []string{header}
		}
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
		if w.Code != http.StatusOK {
			return
		}
		key, err := extractKey(r, DefaultSources())
		if err != nil || key != issued {
			t.Fatalf("200 for header %q, auth %q, query %q", header, auth, rawQuery)
		}
	})
}
