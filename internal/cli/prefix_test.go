package cli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// A key made with a prefix no service of the table is seen to accept gets
// a warning (stderr; the key is made all the same). The rule: warn when no
// unexpired key has the prefix, and either keys have others, or there are
// none and the prefix is not the default.
func TestPrefixWarning(t *testing.T) {
	const (
		others    = `apikey: warning: no key in table api_keys has prefix %q; its keys have %s. A service accepts only the prefixes it is configured with (apikey.WithPrefix, WithAcceptedPrefixes): check that yours accepts %q, or give --prefix %s` + "\n"
		notPlain  = `apikey: warning: no key in table api_keys has prefix %q yet, and it is not the default ("ak"): a service accepts it only when configured with apikey.WithPrefix(%q) or WithAcceptedPrefixes(%q)` + "\n"
		noWarning = ""
	)
	type key struct {
		prefix  string
		expired bool
	}
	for _, tt := range []struct {
		name   string
		table  []key
		args   []string
		want   string
		wantOf []any
	}{
		{"a new table, the default prefix", nil, nil, noWarning, nil},
		{"a new table, another prefix", nil, []string{"--prefix", "sk_live"}, notPlain, []any{"sk_live", "sk_live", "sk_live"}},
		{"a prefix the table's keys have", []key{{prefix: "sk_live"}}, []string{"--prefix", "sk_live"}, noWarning, nil},
		{"the default, where keys have it", []key{{prefix: "ak"}, {prefix: "lbk"}}, nil, noWarning, nil},
		{"another prefix than the keys'", []key{{prefix: "ak"}}, []string{"--prefix", "sk_live"}, others, []any{"sk_live", `"ak"`, "sk_live", "ak"}},
		{"the default, where keys have another", []key{{prefix: "lbk"}}, nil, others, []any{"ak", `"lbk"`, "ak", "lbk"}},
		{"most used first", []key{{prefix: "lbk"}, {prefix: "ak"}, {prefix: "ak"}}, []string{"--prefix", "sk"}, others, []any{"sk", `"ak", "lbk"`, "sk", "ak"}},
		{"expired keys do not count", []key{{prefix: "sk", expired: true}}, []string{"--prefix", "sk"}, notPlain, []any{"sk", "sk", "sk"}},
		{"expired keys do not count, the default", []key{{prefix: "lbk", expired: true}}, nil, noWarning, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newEnv(t)
			c.ok("migrate")
			_, store := c.manager()
			for _, k := range tt.table {
				m := apikey.New(store, apikey.WithPrefix(k.prefix), apikey.WithLastUsedInterval(0))
				_, made, err := m.Create(context.Background(), apikey.NewKey{Owner: "alice"})
				require.NoError(t, err)
				m.Close()
				if k.expired {
					expire(t, store, made.ID)
				}
			}
			r := c.run(append([]string{"create", "--owner", "bob"}, tt.args...)...)
			require.Equal(t, ExitOK, r.code, r.stderr)
			want := tt.want
			if want != "" {
				want = fmt.Sprintf(want, tt.wantOf...)
			}
			assert.Equal(t, want, r.stderr)
			assert.Contains(t, r.stdout, "Store it now", "the key is made all the same")
		})
	}
}

// The table is read up to prefixScanKeys keys, so a create on a big table
// stays a few queries; a prefix only later keys have is not seen.
func TestPrefixWarningReadsTheFirstKeys(t *testing.T) {
	old := prefixScanKeys
	prefixScanKeys = 2
	t.Cleanup(func() { prefixScanKeys = old })
	c := newEnv(t)
	c.ok("migrate")
	_, store := c.manager()
	for _, p := range []string{"ak", "ak", "lbk"} {
		m := apikey.New(store, apikey.WithPrefix(p), apikey.WithLastUsedInterval(0))
		_, _, err := m.Create(context.Background(), apikey.NewKey{Owner: "alice"})
		require.NoError(t, err)
		m.Close()
		time.Sleep(2 * time.Millisecond) // IDs in this order
	}
	r := c.run("create", "--owner", "bob", "--prefix", "lbk")
	require.Equal(t, ExitOK, r.code)
	assert.Contains(t, r.stderr, `has prefix "lbk"; its keys have "ak"`)
}
