package cli

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// show returns the key's record as show --json prints it.
func (c *cmdEnv) show(id string) record {
	c.t.Helper()
	var r record
	require.NoError(c.t, json.Unmarshal([]byte(c.ok("show", id, "--json")), &r))
	return r
}

// create takes every field the admin API's create takes, in the same
// syntax, and a service enforces them.
func TestCreatePolicy(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "partner", "--rate-limit", "100/1d", "--allowed-ips", "192.0.2.0/24,2001:db8::7",
		"--allowed-ips", "10.1.2.3/8", "--max-uses", "2", "--expires-in", "1d")
	require.NotNil(t, k.RateLimit)
	assert.Equal(t, keyjson.RateLimit{Limit: 100, Window: "24h0m0s"}, *k.RateLimit)
	assert.Equal(t, []string{"192.0.2.0/24", "2001:db8::7/128", "10.0.0.0/8"}, k.AllowedIPs)
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(2), *k.RemainingUses)
	require.NotNil(t, k.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), *k.ExpiresAt, time.Minute, "--expires-in is --ttl")

	m, _ := c.manager()
	ctx := context.Background()
	_, err := m.VerifyFrom(ctx, k.Plaintext, netip.MustParseAddr("198.51.100.1"))
	assert.ErrorIs(t, err, apikey.ErrIPNotAllowed)
	for range 2 {
		_, err = m.VerifyFrom(ctx, k.Plaintext, netip.MustParseAddr("192.0.2.9"))
		require.NoError(t, err)
	}
	_, err = m.VerifyFrom(ctx, k.Plaintext, netip.MustParseAddr("192.0.2.9"))
	assert.ErrorIs(t, err, apikey.ErrUsageExhausted)

	out := c.ok("show", k.ID)
	for _, want := range []string{"Rate limit:  100/1d\n", "Allowed IPs: 192.0.2.0/24, 2001:db8::7/128, 10.0.0.0/8\n", "Credits:     0 left\n"} {
		assert.Contains(t, out, want)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--rate-limit", "100"}, ExitUsage, `invalid value "100" for --rate-limit: want LIMIT/WINDOW, such as 100/1m or 10000/1d`},
		{[]string{"--rate-limit", "100/soon"}, ExitUsage, "window: want a duration such as 30d"},
		{[]string{"--rate-limit", "0/1m"}, ExitFailed, "a rate limit needs a positive limit"},
		{[]string{"--allowed-ips", "example.com"}, ExitUsage, `"example.com" is not an IP address or a CIDR range`},
		{[]string{"--max-uses", "-1"}, ExitUsage, "--max-uses must not be negative"},
		{[]string{"--ttl", "1h", "--expires-in", "2h"}, ExitUsage, "--expires-in is --ttl: give one of them"},
	} {
		r := c.run(append([]string{"create", "--owner", "alice"}, tt.args...)...)
		assert.Equal(t, tt.code, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.want, tt.args)
	}
}

// update changes every field the admin API's PATCH changes, and nothing
// else.
func TestUpdate(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice", "--name", "ci", "--scope", "bots:read", "--meta", "team=infra")

	out := c.ok("update", k.ID, "--name", "deploy", "--description", "the deploy job", "--scope", "bots:read,bots:write",
		"--meta", "team=ops", "--meta", "env=prod")
	assert.True(t, strings.HasPrefix(out, "Updated key "+k.ID+".\n\n"), out)
	assert.Contains(t, out, "Name:        deploy\n")
	p, err := c.verify(k.Plaintext)
	require.NoError(t, err)
	assert.Equal(t, []string{k.ID, "alice", "deploy"}, []string{p.KeyID, p.Owner, p.Name})
	assert.Equal(t, []string{"bots:read", "bots:write"}, p.Scopes())
	assert.Equal(t, map[string]string{"team": "ops", "env": "prod"}, p.Metadata())
	r := c.show(k.ID)
	assert.Equal(t, "the deploy job", r.Description)
	assert.Nil(t, r.ExpiresAt, "fields not named are left alone")

	var j record
	require.NoError(t, json.Unmarshal([]byte(c.ok("update", k.ID, "--ttl", "30d", "--rate-limit", "5/1m",
		"--allowed-ips", "10.0.0.0/8", "--remaining-uses", "7", "--json")), &j), "--json prints the record")
	require.NotNil(t, j.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), *j.ExpiresAt, time.Minute)
	assert.Equal(t, &keyjson.RateLimit{Limit: 5, Window: "1m0s"}, j.RateLimit)
	assert.Equal(t, []string{"10.0.0.0/8"}, j.AllowedIPs)
	require.NotNil(t, j.RemainingUses)
	assert.Equal(t, int64(7), *j.RemainingUses)
	assert.Equal(t, "deploy", j.Name)

	c.ok("update", k.ID, "--expires-at", "2099-01-31T00:00:00Z")
	assert.Equal(t, time.Date(2099, 1, 31, 0, 0, 0, 0, time.UTC), *c.show(k.ID).ExpiresAt)

	c.ok("update", k.ID, "--no-expiry", "--no-rate-limit", "--no-allowed-ips", "--no-usage-limit", "--no-scopes", "--no-metadata")
	r = c.show(k.ID)
	assert.Nil(t, r.ExpiresAt)
	assert.Nil(t, r.RateLimit)
	assert.Empty(t, r.AllowedIPs)
	assert.Nil(t, r.RemainingUses)
	assert.Empty(t, r.Scopes)
	assert.Empty(t, r.Metadata)
	assert.Equal(t, "deploy", r.Name)

	c.ok("update", k.ID, "--enabled=false")
	_, err = c.verify(k.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrKeyDisabled)
	c.ok("update", k.ID, "--enabled")
	_, err = c.verify(k.Plaintext)
	assert.NoError(t, err)

	c.ok("update", k.ID, "--name", "")
	assert.Empty(t, c.show(k.ID).Name, "an empty value given clears the field")

	// A change the library refuses changes nothing, the valid ones given
	// with it included.
	r2 := c.run("update", k.ID, "--name", "kept?", "--scope", "bad scope")
	assert.Equal(t, ExitFailed, r2.code, r2.stderr)
	assert.Contains(t, r2.stderr, "invalid input")
	assert.Empty(t, c.show(k.ID).Name)
}

// The way out of an expired key that the help of enable and rotate names
// works: update gives it a new expiry, and then rotate takes it.
func TestExtendAnExpiredKey(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	_, store := c.manager()
	expire(t, store, k.ID)
	_, err := c.verify(k.Plaintext)
	require.ErrorIs(t, err, apikey.ErrKeyExpired)

	assert.Contains(t, c.runRaw("help", "enable").stdout, "'apikey update ID --ttl 30d'")
	assert.Contains(t, c.runRaw("help", "rotate").stdout, "'apikey update\nID --ttl 1d'")
	assert.Contains(t, c.ok("enable", k.ID), "'apikey update "+k.ID+" --ttl 30d' gives it a new expiry")
	r := c.run("rotate", k.ID)
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "give it a new expiry first (apikey update "+k.ID+" --ttl 1d)")

	c.ok("update", k.ID, "--ttl", "1d")
	_, err = c.verify(k.Plaintext)
	require.NoError(t, err, "the key works again")
	c.ok("rotate", k.ID, "--grace", "1h")
}

// The expiry of a key rotated into another ends its grace period: update
// does not change it, so it cannot bring back a retired (maybe leaked) key.
func TestUpdateKeepsRotationExpiry(t *testing.T) {
	c := newEnv(t)
	old := c.create("--owner", "alice")
	var next issued
	require.NoError(t, json.Unmarshal([]byte(c.ok("rotate", old.ID, "--json")), &next))
	for _, args := range [][]string{{"--no-expiry"}, {"--ttl", "30d"}, {"--expires-at", "2099-01-01T00:00:00Z"}} {
		r := c.run(append([]string{"update", old.ID}, args...)...)
		assert.Equal(t, ExitFailed, r.code, args)
		assert.Equal(t, "apikey update: conflict: key "+old.ID+" was rotated to "+next.ID+
			", and its expiry ends its grace period: it may come earlier, not later; change "+next.ID+" instead\n", r.stderr)
	}
	_, err := c.verify(old.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrKeyExpired, "the old key stays retired")
	c.ok("update", old.ID, "--name", "retired") // other fields may change
	c.ok("update", next.ID, "--ttl", "30d")
}

func TestUpdateUsageErrors(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to change: give a flag such as --ttl 30d"},
		{[]string{"--scope", "a", "--no-scopes"}, "give --scope or --no-scopes, not both"},
		{[]string{"--meta", "a=b", "--no-metadata"}, "give --meta or --no-metadata, not both"},
		{[]string{"--ttl", "1d", "--no-expiry"}, "give --ttl or --no-expiry, not both"},
		{[]string{"--expires-in", "1d", "--no-expiry"}, "give --expires-in or --no-expiry, not both"},
		{[]string{"--expires-at", "2099-01-01T00:00:00Z", "--no-expiry"}, "give --expires-at or --no-expiry, not both"},
		{[]string{"--ttl", "1d", "--expires-at", "2099-01-01T00:00:00Z"}, "give --ttl or --expires-at, not both"},
		{[]string{"--rate-limit", "1/1s", "--no-rate-limit"}, "give --rate-limit or --no-rate-limit, not both"},
		{[]string{"--allowed-ips", "10.0.0.0/8", "--no-allowed-ips"}, "give --allowed-ips or --no-allowed-ips, not both"},
		{[]string{"--remaining-uses", "1", "--no-usage-limit"}, "give --remaining-uses or --no-usage-limit, not both"},
		{[]string{"--remaining-uses", "-1"}, "--remaining-uses must not be negative"},
		{[]string{"--expires-at", "0001-01-01T00:00:00Z"}, `invalid value "0001-01-01T00:00:00Z" for --expires-at: the zero time means never`},
		{[]string{"--owner", "bob"}, "unknown flag --owner"},
		{[]string{"--prefix", "sk"}, "unknown flag --prefix"},
	} {
		r := c.run(append([]string{"update", k.ID}, tt.args...)...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, "apikey update: "+tt.want, tt.args)
	}
	r := c.run("update", "01NOSUCHKEY", "--name", "x")
	assert.Equal(t, ExitFailed, r.code)
	assert.Equal(t, "apikey update: key not found: ID 01NOSUCHKEY\n", r.stderr)
	c.table = "missing"
	r = c.run("update", k.ID, "--name", "x")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "no table missing")
}
