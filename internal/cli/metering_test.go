package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// showKey returns the key as show --json prints it, the admin API's form.
func (c *cmdEnv) showKey(id string) keyjson.Key {
	c.t.Helper()
	var k keyjson.Key
	dec := json.NewDecoder(strings.NewReader(c.ok("show", id, "--json")))
	dec.DisallowUnknownFields()
	require.NoError(c.t, dec.Decode(&k))
	return k
}

// createKey creates a key with args and returns its plaintext and record.
func (c *cmdEnv) createKey(args ...string) (string, keyjson.Key) {
	c.t.Helper()
	var out struct {
		Plaintext string      `json:"plaintext"`
		Key       keyjson.Key `json:"key"`
	}
	require.NoError(c.t, json.Unmarshal([]byte(c.ok(append([]string{"create", "--json"}, args...)...)), &out))
	return out.Plaintext, out.Key
}

// sqlDB opens the database at setting, for what the command cannot do.
func sqlDB(t *testing.T, setting string) *sql.DB {
	t.Helper()
	db, _, err := dbopen.Open(context.Background(), setting)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// create takes named limits, credits and a refill, in the admin API's
// terms, and a service enforces them.
func TestCreateMetering(t *testing.T) {
	c := newEnv(t)
	plain, k := c.createKey("--owner", "partner", "--limit", "burst=2/1h", "--limit", "daily=10/1d",
		"--credits", "5", "--refill", "100/monthly@15", "--roll-over")
	assert.Equal(t, []keyjson.RateLimit{{Name: "burst", Limit: 2, Window: "1h0m0s"}, {Name: "daily", Limit: 10, Window: "24h0m0s"}}, k.RateLimits)
	assert.Equal(t, &keyjson.Refill{Amount: 100, Interval: "monthly", Day: 15, RollOver: true}, k.Refill)
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(5), *k.RemainingUses, "--credits is what the key starts with")
	require.NotNil(t, k.NextRefillAt)
	assert.Equal(t, 15, k.NextRefillAt.Day())
	assert.True(t, k.NextRefillAt.After(time.Now()))

	m, _ := c.manager()
	ctx := context.Background()
	for range 2 {
		_, err := m.Verify(ctx, plain)
		require.NoError(t, err)
	}
	_, err := m.Verify(ctx, plain)
	assert.ErrorIs(t, err, apikey.ErrRateLimited, "the named limit burst=2/1h holds")

	r := c.showKey(k.ID)
	assert.Equal(t, int64(2), r.UsesSpent)
	assert.Equal(t, int64(3), *r.RemainingUses)
	out := c.ok("show", k.ID)
	for _, want := range []string{
		"Limits:      burst=2/1h, daily=10/1d\n",
		"Credits:     3 left\n",
		"Refill:      100/monthly@15 (--roll-over: unused credits are kept)\n",
		"Next refill: " + r.NextRefillAt.Format(time.RFC3339) + "\n",
		"Uses spent:  2\n",
	} {
		assert.Contains(t, out, want)
	}

	// --max-uses is --credits; without either, a refill's amount.
	plain, k = c.createKey("--owner", "partner", "--max-uses", "1")
	assert.Equal(t, int64(1), *k.RemainingUses)
	_, err = m.Verify(ctx, plain)
	require.NoError(t, err)
	_, err = m.Verify(ctx, plain)
	assert.ErrorIs(t, err, apikey.ErrUsageExhausted)
	_, k = c.createKey("--owner", "partner", "--refill", "7/daily")
	assert.Equal(t, int64(7), *k.RemainingUses)
	assert.Equal(t, &keyjson.Refill{Amount: 7, Interval: "daily"}, k.Refill)
	y, mo, d := time.Now().UTC().AddDate(0, 0, 1).Date()
	assert.Equal(t, time.Date(y, mo, d, 0, 0, 0, 0, time.UTC), *k.NextRefillAt, "daily: the next 00:00 UTC")
	out = c.ok("create", "--owner", "partner", "--refill", "7/daily")
	assert.Contains(t, out, "Credits:     7 left\nRefill:      7/daily (unused credits lapse)\nNext refill: ")
	assert.NotContains(t, c.ok("create", "--owner", "partner"), "Credits:", "the summary shows only what is set")

	// A key without metering shows that it has none.
	_, k = c.createKey("--owner", "plain")
	out = c.ok("show", k.ID)
	for _, want := range []string{"Limits:      none\n", "Credits:     no limit\n", "Refill:      none\n", "Uses spent:  0\n"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "Next refill")
	assert.Nil(t, c.showKey(k.ID).NextRefillAt)
}

// update replaces named limits, credits and the refill, and clears them.
func TestUpdateMetering(t *testing.T) {
	c := newEnv(t)
	plain, k := c.createKey("--owner", "alice", "--limit", "burst=1/1h")
	var j keyjson.Key
	require.NoError(t, json.Unmarshal([]byte(c.ok("update", k.ID, "--limit", "minute=5/1m", "--limit", "day=50/1d",
		"--refill", "20/daily", "--roll-over", "--json")), &j))
	assert.Equal(t, []keyjson.RateLimit{{Name: "minute", Limit: 5, Window: "1m0s"}, {Name: "day", Limit: 50, Window: "24h0m0s"}}, j.RateLimits,
		"--limit replaces the key's limits")
	assert.Equal(t, &keyjson.Refill{Amount: 20, Interval: "daily", RollOver: true}, j.Refill)
	assert.Equal(t, int64(20), *j.RemainingUses, "a refill gives a key without a usage limit its amount")
	require.NotNil(t, j.NextRefillAt)

	_, err := c.verify(plain)
	require.NoError(t, err, "burst=1/1h is gone")
	_, err = c.verify(plain)
	require.NoError(t, err)

	c.ok("update", k.ID, "--refill", "30/monthly@1", "--credits", "4")
	j = c.showKey(k.ID)
	assert.Equal(t, &keyjson.Refill{Amount: 30, Interval: "monthly", Day: 1}, j.Refill, "without --roll-over, none")
	assert.Equal(t, int64(4), *j.RemainingUses, "--credits given with --refill says what is left")
	c.ok("update", k.ID, "--remaining-uses", "3")
	assert.Equal(t, int64(3), *c.showKey(k.ID).RemainingUses, "--remaining-uses is --credits")

	c.ok("update", k.ID, "--no-refill")
	j = c.showKey(k.ID)
	assert.Nil(t, j.Refill)
	assert.Nil(t, j.NextRefillAt)
	assert.Equal(t, int64(3), *j.RemainingUses, "--no-refill keeps the credits left")

	c.ok("update", k.ID, "--no-limits")
	assert.Empty(t, c.showKey(k.ID).RateLimits)

	c.ok("update", k.ID, "--refill", "9/daily")
	c.ok("update", k.ID, "--no-usage-limit")
	j = c.showKey(k.ID)
	assert.Nil(t, j.RemainingUses)
	assert.Nil(t, j.Refill, "--no-usage-limit stops refills too")

	c.ok("update", k.ID, "--credits", "0")
	_, err = c.verify(plain)
	assert.ErrorIs(t, err, apikey.ErrUsageExhausted, "--credits 0 refuses the key")
	out := c.ok("update", k.ID, "--credits", "2")
	assert.Contains(t, out, "Credits:     2 left\n")
}

// Every metering flag's mistake is a usage error, found before the
// database is opened, naming the flag.
func TestMeteringUsageErrors(t *testing.T) {
	c := newEnv(t)
	const id = "01JDXW6E4Z9V1Q8G3K2M5N7P0R"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--owner", "a", "--limit", "burst"}, `invalid value "burst" for --limit: want NAME=LIMIT/WINDOW, such as burst=10/1s or daily=10000/1d`},
		{[]string{"create", "--owner", "a", "--limit", "=1/1s"}, `for --limit: want NAME=LIMIT/WINDOW`},
		{[]string{"create", "--owner", "a", "--limit", "b=1"}, `for --limit: want NAME=LIMIT/WINDOW`},
		{[]string{"create", "--owner", "a", "--limit", "b=1/soon"}, `for --limit: window: want a duration such as 30d`},
		{[]string{"create", "--owner", "a", "--limit", "b=0/1s"}, `for --limit: the limit must be 1 or more`},
		{[]string{"create", "--owner", "a", "--limit", "b=-3/1s"}, `for --limit: the limit must be 1 or more`},
		{[]string{"create", "--owner", "a", "--limit", "b=1/0s"}, `for --limit: the window must be at least 1ms`},
		{[]string{"create", "--owner", "a", "--limit", "b=1/1s", "--limit", "b=2/1m"}, `for --limit: limit "b" given twice`},
		{[]string{"create", "--owner", "a", "--refill", "100"}, `invalid value "100" for --refill: want AMOUNT/daily or AMOUNT/monthly@DAY, such as 1000/daily or 50000/monthly@1`},
		{[]string{"create", "--owner", "a", "--refill", "x/daily"}, `for --refill: want AMOUNT/daily or AMOUNT/monthly@DAY`},
		{[]string{"create", "--owner", "a", "--refill", "100/weekly"}, `for --refill: want AMOUNT/daily or AMOUNT/monthly@DAY`},
		{[]string{"create", "--owner", "a", "--refill", "100/daily@3"}, `for --refill: want AMOUNT/daily or AMOUNT/monthly@DAY`},
		{[]string{"create", "--owner", "a", "--refill", "100/monthly"}, `for --refill: a monthly refill needs its day: AMOUNT/monthly@DAY`},
		{[]string{"create", "--owner", "a", "--refill", "100/monthly@0"}, `for --refill: the day of a monthly refill is 1 to 31`},
		{[]string{"create", "--owner", "a", "--refill", "100/monthly@32"}, `for --refill: the day of a monthly refill is 1 to 31`},
		{[]string{"create", "--owner", "a", "--refill", "0/daily"}, `for --refill: the amount must be 1 or more`},
		{[]string{"create", "--owner", "a", "--roll-over"}, `--roll-over goes with --refill`},
		{[]string{"create", "--owner", "a", "--credits", "0"}, `--credits must be 1 or more; leave it out for no usage limit`},
		{[]string{"create", "--owner", "a", "--credits", "-1"}, `--credits must be 1 or more`},
		{[]string{"create", "--owner", "a", "--credits", "lots"}, `invalid value "lots" for --credits: want a whole number`},
		{[]string{"create", "--owner", "a", "--credits", "1", "--max-uses", "1"}, `--max-uses is --credits: give one of them`},
		{[]string{"create", "--owner", "a", "--no-limits"}, `unknown flag --no-limits`},
		{[]string{"update", id, "--credits", "-1"}, `--credits must not be negative`},
		{[]string{"update", id, "--credits", "1", "--remaining-uses", "1"}, `--remaining-uses is --credits: give one of them`},
		{[]string{"update", id, "--credits", "1", "--no-usage-limit"}, `give --credits or --no-usage-limit, not both`},
		{[]string{"update", id, "--limit", "b=1/1s", "--no-limits"}, `give --limit or --no-limits, not both`},
		{[]string{"update", id, "--refill", "1/daily", "--no-refill"}, `give --refill or --no-refill, not both`},
		{[]string{"update", id, "--refill", "1/daily", "--no-usage-limit"}, `give --refill or --no-usage-limit, not both`},
		{[]string{"update", id, "--roll-over"}, `--roll-over goes with --refill: give the whole refill, such as --refill 1000/daily --roll-over`},
		{[]string{"update", id, "--roll-over", "--no-refill"}, `give --roll-over or --no-refill, not both`},
		{[]string{"update", id, "--refill", "5/monthly@31x"}, `for --refill: the day of a monthly refill is 1 to 31`},
	} {
		r := c.run(tt.args...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, "apikey "+tt.args[0]+": ", tt.args)
		assert.Contains(t, r.stderr, tt.want, tt.args)
		assert.Empty(t, r.stdout, tt.args)
	}
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "usage errors are found before the database is opened")
}

// Text shows windows as the flags take them, and credits as the store
// will count them: refilled once a period has passed since the last
// refill, though no use has refilled them yet.
func TestMeteringText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1s", time.Minute: "1m", time.Hour: "1h", 90 * time.Minute: "1h30m", 24 * time.Hour: "1d",
		30 * 24 * time.Hour: "30d", 25 * time.Hour: "25h", 1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	} {
		assert.Equal(t, want, windowText(d), d)
		got, err := keyjson.ParseDuration(want)
		require.NoError(t, err, want)
		assert.Equal(t, d, got, "%s reads back", want)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	daily := &apikey.Refill{Amount: 100, Interval: apikey.RefillDaily}
	today := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, int64(4), creditsAt(4, daily, today, now), "refilled this period")
	assert.Equal(t, int64(100), creditsAt(4, daily, today.AddDate(0, 0, -1), now), "a period has passed")
	rolling := &apikey.Refill{Amount: 100, Interval: apikey.RefillDaily, RollOver: true}
	assert.Equal(t, int64(104), creditsAt(4, rolling, today.AddDate(0, 0, -3), now), "rolled over once, as the store does")
	assert.Equal(t, apikey.MaxRemainingUses, creditsAt(apikey.MaxRemainingUses-3, rolling, today.AddDate(0, 0, -3), now),
		"a roll-over stops at MaxRemainingUses, as the store's does")
	assert.Equal(t, int64(4), creditsAt(4, nil, time.Time{}, now))
}

// The owner commands set, show, list and delete the policy all of an
// owner's keys share, and a service enforces it.
func TestOwnerCommands(t *testing.T) {
	c := newEnv(t)
	a1, _ := c.createKey("--owner", "alice")
	a2, _ := c.createKey("--owner", "alice")
	c.createKey("--owner", "bob")

	assert.Equal(t, "No owner policies. Set one with: apikey owner set OWNER --credits N\n", c.ok("owner", "list"))
	assert.Equal(t, "[]\n", c.ok("owner", "list", "--json"))

	out := c.ok("owner", "set", "alice", "--limit", "shared=3/1h", "--credits", "100", "--refill", "500/monthly@1", "--max-keys", "3")
	assert.True(t, strings.HasPrefix(out, "Set the policy of owner alice.\n\n"), out)
	for _, want := range []string{"Owner:       alice\n", "Limits:      shared=3/1h\n", "Credits:     100 left\n",
		"Refill:      500/monthly@1 (unused credits lapse)\n", "Next refill: ", "Uses spent:  0\n", "Max keys:    3\n", "Updated:     "} {
		assert.Contains(t, out, want)
	}

	// The keys share the limit: three requests between them.
	m, _ := c.manager()
	ctx := context.Background()
	for _, key := range []string{a1, a2, a1} {
		_, err := m.Verify(ctx, key)
		require.NoError(t, err)
	}
	_, err := m.Verify(ctx, a2)
	assert.ErrorIs(t, err, apikey.ErrRateLimited, "the owner's limit is shared")

	var o keyjson.Owner
	dec := json.NewDecoder(strings.NewReader(c.ok("owner", "show", "alice", "--json")))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&o), "the admin API's form")
	assert.Equal(t, "alice", o.Owner)
	assert.Equal(t, []keyjson.RateLimit{{Name: "shared", Limit: 3, Window: "1h0m0s"}}, o.RateLimits)
	assert.Equal(t, int64(97), *o.RemainingUses)
	assert.Equal(t, int64(3), o.UsesSpent)
	assert.Equal(t, &keyjson.Refill{Amount: 500, Interval: "monthly", Day: 1}, o.Refill)
	require.NotNil(t, o.NextRefillAt)
	assert.Equal(t, 1, o.NextRefillAt.Day())
	assert.Equal(t, 3, o.MaxKeys)
	assert.Contains(t, c.ok("owner", "show", "alice"), "Credits:     97 left\n")

	// --max-keys: a fourth live key is refused.
	c.createKey("--owner", "alice")
	r := c.run("create", "--owner", "alice")
	assert.Equal(t, ExitFailed, r.code)
	assert.Equal(t, "apikey create: owner has as many keys as allowed: owner \"alice\" has 3 live keys, and may have 3\n", r.stderr)

	// set replaces the whole policy.
	c.ok("owner", "set", "alice", "--credits", "2")
	o = keyjson.Owner{}
	require.NoError(t, json.Unmarshal([]byte(c.ok("owner", "show", "alice", "--json")), &o))
	assert.Empty(t, o.RateLimits, "what set does not give, the policy no longer has")
	assert.Equal(t, 0, o.MaxKeys)
	assert.Nil(t, o.Refill)
	assert.Nil(t, o.NextRefillAt)
	assert.Equal(t, int64(2), *o.RemainingUses)
	m, _ = c.manager()
	for range 2 {
		_, err = m.Verify(ctx, a1)
		require.NoError(t, err)
	}
	_, err = m.Verify(ctx, a2)
	assert.ErrorIs(t, err, apikey.ErrUsageExhausted, "the owner's credits are shared")

	// Without --credits, a policy keeps the credits it has: changing a
	// limit lifts no cap and gives nothing back. --no-credits stops
	// sharing them.
	c.ok("owner", "set", "alice", "--limit", "shared=50/1h")
	assert.Contains(t, c.ok("owner", "show", "alice"), "Credits:     0 left\n")
	m, _ = c.manager()
	_, err = m.Verify(ctx, a1)
	assert.ErrorIs(t, err, apikey.ErrUsageExhausted, "still spent")
	c.ok("owner", "set", "alice", "--no-credits", "--limit", "shared=50/1h")
	assert.Contains(t, c.ok("owner", "show", "alice"), "Credits:     none shared\n")
	m, _ = c.manager()
	_, err = m.Verify(ctx, a1)
	assert.NoError(t, err, "no shared credits now")

	c.ok("owner", "set", "alice", "--refill", "5/daily", "--roll-over")
	o = keyjson.Owner{}
	require.NoError(t, json.Unmarshal([]byte(c.ok("owner", "show", "alice", "--json")), &o))
	assert.Equal(t, &keyjson.Refill{Amount: 5, Interval: "daily", RollOver: true}, o.Refill)
	c.ok("owner", "set", "bob", "--max-keys", "5")
	assert.Contains(t, c.ok("owner", "show", "bob"), "Credits:     none shared\n")

	out = c.ok("owner", "list")
	assert.Regexp(t, `^OWNER +LIMITS +CREDITS +REFILL +NEXT REFILL +MAX KEYS\n`+
		`alice +- +\d+ +5/daily --roll-over +\S+Z +-\n`+
		`bob +- +- +- +- +5\n$`, out)
	var list []keyjson.Owner
	require.NoError(t, json.Unmarshal([]byte(c.ok("owner", "list", "--json")), &list))
	require.Len(t, list, 2)
	assert.Equal(t, []string{"alice", "bob"}, []string{list[0].Owner, list[1].Owner})

	assert.Equal(t, "The policy of owner bob is removed.\n", c.ok("owner", "delete", "bob"))
	assert.Equal(t, "{\n  \"deleted\": true,\n  \"owner\": \"alice\"\n}\n", c.ok("owner", "delete", "alice", "--json"))
	assert.Equal(t, "[]\n", c.ok("owner", "list", "--json"))
	_, err = c.verify(a2)
	assert.NoError(t, err, "without the policy, the keys share nothing")

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"owner", "show", "alice"}, "apikey owner show: no policy for owner \"alice\"\n"},
		{[]string{"owner", "delete", "alice"}, "apikey owner delete: no policy for owner \"alice\"\n"},
		{[]string{"owner", "set", "carol", "--credits", "5"}, "apikey owner set: owner \"carol\" has no keys; create one first\n"},
		{[]string{"owner", "set", "alice", "--limit", "a=1/1s", "--limit", "b=1/1s", "--limit", "c=1/1s", "--limit", "d=1/1s",
			"--limit", "e=1/1s", "--limit", "f=1/1s", "--limit", "g=1/1s", "--limit", "h=1/1s", "--limit", "i=1/1s"},
			"apikey owner set: invalid input: at most 8 rate limits\n"},
	} {
		r := c.run(tt.args...)
		assert.Equal(t, ExitFailed, r.code, tt.args)
		assert.Equal(t, tt.want, r.stderr, tt.args)
		assert.Empty(t, r.stdout, tt.args)
	}
	assert.Equal(t, "[]\n", c.ok("owner", "list", "--json"), "a refused set stores nothing")
}

// The owner commands' mistakes are usage errors, found before the
// database is opened; help documents them.
func TestOwnerUsage(t *testing.T) {
	c := newEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"owner"}, "apikey owner: missing the owner command: show, list, set or delete\nRun 'apikey help owner' for usage.\n"},
		{[]string{"owner", "--json"}, "apikey owner: missing the owner command"},
		{[]string{"owner", "frob"}, `apikey owner: unknown owner command "frob": show, list, set or delete`},
		{[]string{"owner", "show"}, "apikey owner show: missing OWNER\nRun 'apikey help owner show' for usage.\n"},
		{[]string{"owner", "show", "a", "b"}, `apikey owner show: unexpected argument "b"`},
		{[]string{"owner", "list", "a"}, `apikey owner list: unexpected argument "a"`},
		{[]string{"owner", "delete"}, "apikey owner delete: missing OWNER"},
		{[]string{"owner", "set"}, "apikey owner set: missing OWNER"},
		{[]string{"owner", "set", "alice"}, "apikey owner set: nothing to set: give --limit, --credits, --refill or --max-keys ('apikey owner delete alice' removes the policy)"},
		{[]string{"owner", "set", "alice", "--max-keys", "-1"}, "apikey owner set: --max-keys must not be negative"},
		{[]string{"owner", "set", "alice", "--credits", "-1"}, "apikey owner set: --credits must not be negative"},
		{[]string{"owner", "set", "alice", "--credits", "1", "--no-credits"}, "apikey owner set: give --credits or --no-credits, not both"},
		{[]string{"owner", "set", "alice", "--credits", "1", "--roll-over"}, "apikey owner set: --roll-over goes with --refill"},
		{[]string{"owner", "set", "alice", "--limit", "x"}, `apikey owner set: invalid value "x" for --limit: want NAME=LIMIT/WINDOW`},
		{[]string{"owner", "set", "alice", "--refill", "1/yearly"}, `apikey owner set: invalid value "1/yearly" for --refill`},
		{[]string{"owner", "set", "alice", "--ttl", "1d"}, "apikey owner set: unknown flag --ttl"},
		{[]string{"owner", "show", "alice", "--credits", "1"}, "apikey owner show: unknown flag --credits"},
		{[]string{"help", "owner", "frob"}, `apikey: unknown command "owner frob"`},
		{[]string{"help", "show", "owner"}, "apikey: help takes at most one command"},
	} {
		r := c.run(tt.args...)
		assert.Equal(t, ExitUsage, r.code, "%v: %s", tt.args, r.stderr)
		assert.Contains(t, r.stderr, tt.want, tt.args)
		assert.Empty(t, r.stdout, tt.args)
	}
	_, err := os.Stat(c.db)
	assert.True(t, os.IsNotExist(err), "usage errors are found before the database is opened")

	for _, args := range [][]string{{"help", "owner"}, {"owner", "--help"}, {"owner", "-h"}} {
		r := c.runRaw(args...)
		assert.Equal(t, ExitOK, r.code, args)
		assert.Contains(t, r.stdout, "Usage: apikey owner <command> [flags] [OWNER]", args)
		for _, cmd := range ownerCommands {
			assert.Contains(t, r.stdout, "\n  "+cmd.name+" ", args)
		}
		assert.Contains(t, r.stdout, "--db SETTING", args)
	}
	for _, cmd := range ownerCommands {
		for _, args := range [][]string{strings.Fields("help " + cmd.name), append(strings.Fields(cmd.name), "--help")} {
			r := c.runRaw(args...)
			assert.Equal(t, ExitOK, r.code, args)
			assert.Contains(t, r.stdout, "Usage: apikey "+cmd.name+" [flags]", args)
		}
	}
	set := c.runRaw("help", "owner", "set").stdout
	for _, flag := range []string{"--limit NAME=LIMIT/WINDOW", "--credits N", "--refill AMOUNT/daily", "--roll-over", "--max-keys N"} {
		assert.Contains(t, set, flag)
	}
	all := c.runRaw("help").stdout
	assert.Contains(t, all, "\n  owner set     set (replace) an owner's policy\n")
	for _, cmd := range []string{"create", "update"} {
		h := c.runRaw("help", cmd).stdout
		for _, flag := range []string{"--limit NAME=LIMIT/WINDOW", "--credits N", "--refill AMOUNT/daily", "--roll-over"} {
			assert.Contains(t, h, flag, cmd)
		}
	}
	assert.Contains(t, c.runRaw("help", "update").stdout, "--no-refill")
	assert.Contains(t, c.runRaw("help", "update").stdout, "--no-limits")
}

// owner show and list only read: on a missing database or table they make
// nothing, and on a table made before owner policies existed they find
// none. set and delete need the table.
func TestOwnerAccess(t *testing.T) {
	c := newEnv(t)
	for _, args := range [][]string{{"owner", "show", "alice"}, {"owner", "list"}, {"owner", "set", "alice", "--credits", "1"}, {"owner", "delete", "alice"}} {
		r := c.run(args...)
		assert.Equal(t, ExitFailed, r.code, args)
		assert.Equal(t, fmt.Sprintf("apikey %s %s: no table api_keys in %s (no such file); run apikey migrate\n", args[0], args[1], c.db), r.stderr)
	}
	_, err := os.Stat(c.db)
	require.True(t, os.IsNotExist(err))

	c.createKey("--owner", "alice")
	_, store := c.manager()
	db := sqlDB(t, c.db)
	_, err = db.Exec("DROP TABLE " + store.OwnersTable())
	require.NoError(t, err, "a table made before owner policies")
	before := c.tables()
	assert.Equal(t, "[]\n", c.ok("owner", "list", "--json"))
	r := c.run("owner", "show", "alice")
	assert.Equal(t, ExitFailed, r.code)
	assert.Equal(t, "apikey owner show: no policy for owner \"alice\"\n", r.stderr)
	assert.Equal(t, before, c.tables(), "reading makes nothing")
	c.ok("owner", "set", "alice", "--credits", "3")
	assert.Contains(t, c.tables(), store.OwnersTable(), "set migrates the table")
	assert.Contains(t, c.ok("owner", "list"), "alice")
}
