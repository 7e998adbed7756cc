package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
)

var createCmd = &command{
	name:    "create",
	summary: "create a key and print it, once",
	help: `Creates a key for --owner and prints it once: only its SHA-256 digest is
stored, so it cannot be shown again. With --json, prints what the admin API
answers, {"plaintext": "ak_…", "key": {…the record…}}, and the "not shown
again" notice on stderr.

  apikey create --owner alice --name ci --scope bots:read,bots:write --ttl 90d
  apikey create --owner partner --rate-limit 100/1m --allowed-ips 192.0.2.0/24 --credits 10000
  apikey create --owner partner --limit burst=10/1s --limit daily=10000/1d --refill 50000/monthly@1

Credits are the requests a key may still make (a request costing more
spends more); --refill gives them again at 00:00 UTC every day or on a day
of every month, and --credits, when given too, is what the key starts
with. An owner's policy (apikey owner set) adds limits and credits that
all of the owner's keys share.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.owner, "owner", "", "the principal the key acts for (required)")
		keyFlags(fs, o)
		fs.Int64Var(&o.metering.credits, "credits", 0, "how many requests the key may make, `N`: its usage limit (default: no limit)")
		fs.Int64Var(&o.maxUses, "max-uses", 0, "the same as --credits")
		fs.StringVar(&o.prefix, "prefix", apikey.DefaultPrefix, "key prefix; the service must accept it, and a warning says when no key in the table has it")
	},
	run: runCreate,
}

// keyFlags registers the flags that set a key's fields, for create and
// update. Their names and values are those of the admin API's JSON (see
// the README's table): --ttl is its ttl, --rate-limit 100/1m its
// rate_limit {"limit": 100, "window": "1m"}.
func keyFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.name, "name", "", "a short label, such as ci")
	fs.StringVar(&o.description, "description", "", "free text")
	fs.Var(&o.scopes, "scope", "a `scope` to grant; repeat it or separate scopes with commas")
	fs.Var(&o.meta, "meta", "metadata `key=value`; repeat for more")
	fs.Var(&o.ttl, "ttl", "expire this `duration` from now, such as 30d or 12h")
	fs.Var(&o.ttl, "expires-in", "the same as --ttl `duration`")
	fs.Var(&o.expiresAt, "expires-at", "expire at this RFC 3339 `time`, such as 2026-01-31T00:00:00Z")
	fs.Var(&o.rateLimit, "rate-limit", "at most `limit/window` requests, such as 100/1m (100 a minute) or 10000/1d")
	fs.Var(&o.allowedIPs, "allowed-ips", "client address `ranges` the key works from, such as 10.0.0.0/8 or 192.0.2.7; repeat or separate with commas")
	limitFlags(fs, o)
}

// limitFlags registers --limit, --refill and --roll-over, for create,
// update and owner set.
func limitFlags(fs *flag.FlagSet, o *options) {
	fs.Var(&o.metering.limits, "limit", "a named rate limit `NAME=LIMIT/WINDOW`, such as burst=10/1s or daily=10000/1d; repeat for more, and a request needs room in each")
	fs.Var(&o.metering.refill, "refill", "give the credits again: `AMOUNT/daily` at 00:00 UTC, or AMOUNT/monthly@DAY on day 1 to 31 of each month (31: its last day)")
	fs.BoolVar(&o.metering.rollOver, "roll-over", false, "with --refill: add AMOUNT to the credits left instead of setting them to AMOUNT")
}

// expiry returns the expiry the flags give, and whether they give one:
// --ttl from now, or --expires-at.
func (o *options) expiry(now time.Time) (time.Time, bool, error) {
	if o.set["ttl"] && o.set["expires-in"] {
		return time.Time{}, false, usagef("--expires-in is --ttl: give one of them")
	}
	if o.ttl.set && o.set["expires-at"] {
		return time.Time{}, false, usagef("give --ttl or --expires-at, not both")
	}
	switch {
	case o.ttl.set:
		return now.Add(o.ttl.d), true, nil
	case o.set["expires-at"]:
		return o.expiresAt.t, true, nil
	}
	return time.Time{}, false, nil
}

func runCreate(ctx context.Context, e *env, o *options, _ []string) error {
	if o.owner == "" {
		return usagef("--owner is required")
	}
	if o.maxUses < 0 {
		return usagef("--max-uses must not be negative; leave it out for no limit")
	}
	credits, ok, err := o.credits("max-uses", 1)
	if err != nil {
		return err
	}
	if ok {
		o.maxUses = credits
	}
	refill, err := o.refillFromFlags()
	if err != nil {
		return err
	}
	expires, _, err := o.expiry(time.Now())
	if err != nil {
		return err
	}
	nk := apikey.NewKey{
		Owner:       o.owner,
		Name:        o.name,
		Description: o.description,
		Scopes:      o.scopes,
		Metadata:    o.meta,
		ExpiresAt:   expires,
		RateLimit:   o.rateLimit.rl,
		RateLimits:  o.metering.limits,
		AllowedIPs:  o.allowedIPs,
		MaxUses:     o.maxUses,
		Refill:      refill,
	}
	return e.withManager(ctx, o, createTable, o.prefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
		if err := e.warnPrefix(ctx, m, o, o.prefix); err != nil {
			return err
		}
		plain, k, err := m.Create(ctx, nk)
		if err != nil {
			return err
		}
		if o.json {
			return writeSecretJSON(e, issuedJSON{Plaintext: plain, Key: toJSON(k, time.Now())})
		}
		fmt.Fprintf(e.stdout, "Created key %s for %s.\n", k.ID, k.Owner)
		printSecret(e, plain)
		printSummary(e, k)
		return nil
	})
}

// printSecret shows a new plaintext key: the one place it is ever printed.
func printSecret(e *env, plain string) {
	fmt.Fprintf(e.stdout, "\n    %s\n\nStore it now: it will not be shown again.\n\n", plain)
}

// secretNotice goes to stderr when a new key is printed as JSON: stdout
// stays JSON for a program to read, and a person still sees the warning.
const secretNotice = "The key in this output is not stored: it will not be shown again.\n"

// writeSecretJSON prints out, which holds a new plaintext key, as JSON, and
// secretNotice to stderr.
func writeSecretJSON(e *env, out issuedJSON) error {
	if err := writeJSON(e.stdout, out); err != nil {
		return err
	}
	fmt.Fprint(e.stderr, secretNotice)
	return nil
}

// printSummary shows what a caller of a new key needs to know.
func printSummary(e *env, k apikey.Key) {
	w := newFieldWriter(e.stdout)
	w.field("ID", k.ID)
	w.field("Owner", k.Owner)
	if k.Name != "" {
		w.field("Name", k.Name)
	}
	w.field("Scopes", joinOr(k.Scopes, "none"))
	w.field("State", state(k, time.Now()))
	w.field("Expires", textTime(k.ExpiresAt))
	printPolicy(w, k, false)
}

// printPolicy shows a key's rate limits, allowed addresses, credits and
// their refill; with all false, only those it sets.
func printPolicy(w fieldWriter, k apikey.Key, all bool) {
	now := time.Now()
	if all || !k.RateLimit.IsZero() {
		w.field("Rate limit", rateLimitText(k.RateLimit))
	}
	if all || len(k.RateLimits) > 0 {
		w.field("Limits", limitsText(k.RateLimits, "none"))
	}
	if all || len(k.AllowedIPs) > 0 {
		ips := make([]string, len(k.AllowedIPs))
		for i, p := range k.AllowedIPs {
			ips[i] = p.String()
		}
		w.field("Allowed IPs", joinOr(ips, "any"))
	}
	printMetering(w, k.RemainingUses, k.Refill, k.RefilledAt, k.UsesSpent, now, all)
}

// rateLimitText is a rate limit as --rate-limit takes it, or what applies
// without one.
func rateLimitText(rl apikey.RateLimit) string {
	if rl.IsZero() {
		return "the service's default"
	}
	return fmt.Sprintf("%d/%s", rl.Limit, windowText(rl.Window))
}

var listCmd = &command{
	name:    "list",
	summary: "list keys, never their secrets",
	help: `Lists keys in creation order (--newest-first for the newest first): their
ID, the start of the key (enough to recognise it, useless to an attacker),
owner, name, state, expiry and last use. Prints at most --limit keys; --all
lists every one, page by page.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.owner, "owner", "", "list only this owner's keys")
		fs.IntVar(&o.limit, "limit", apikey.DefaultListLimit, fmt.Sprintf("most keys to list (at most %d)", apikey.MaxListLimit))
		fs.StringVar(&o.after, "after", "", "list keys after this ID (the next page)")
		fs.BoolVar(&o.all, "all", false, "list every key")
		fs.BoolVar(&o.newestFirst, "newest-first", false, "list the newest keys first")
	},
	run: runList,
}

// allPageSize is how many keys list --all reads per query; a variable so
// tests can make paging happen with a few keys.
var allPageSize = apikey.MaxListLimit

func runList(ctx context.Context, e *env, o *options, _ []string) error {
	if o.all && (o.set["limit"] || o.set["after"]) {
		return usagef("--all lists every key: give it without --limit or --after")
	}
	if o.limit < 1 || o.limit > apikey.MaxListLimit {
		return usagef("--limit must be 1 to %d (--all lists every key)", apikey.MaxListLimit)
	}
	return e.withManager(ctx, o, readKeys, apikey.DefaultPrefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
		opts := apikey.ListOptions{Owner: o.owner, After: o.after, Limit: o.limit, Descending: o.newestFirst}
		if o.all {
			opts.Limit = allPageSize
		}
		var keys []apikey.Key
		var next string
		for {
			page, err := m.List(ctx, opts)
			if err != nil {
				return err
			}
			keys = append(keys, page.Keys...)
			next = page.Next
			if !o.all || next == "" {
				break
			}
			opts.After = next
		}
		now := time.Now()
		if o.json {
			out := make([]keyJSON, len(keys))
			for i, k := range keys {
				out[i] = toJSON(k, now)
			}
			if err := writeJSON(e.stdout, out); err != nil {
				return err
			}
		} else {
			printTable(e.stdout, keys, now, o.owner)
		}
		if next != "" {
			// On stderr, so JSON on stdout stays one document.
			fmt.Fprintln(e.stderr, nextPageHint(o, next))
		}
		return nil
	})
}

var showCmd = &command{
	name:    "show",
	args:    "ID",
	nargs:   1,
	summary: "show every field of a key but its secret",
	help:    "Shows one key: everything but the key itself and its digest.",
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return e.withManager(ctx, o, readKeys, apikey.DefaultPrefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
			k, err := m.Get(ctx, args[0])
			if err != nil {
				return err
			}
			return printKey(e, o, k)
		})
	},
}

func printKey(e *env, o *options, k apikey.Key) error {
	now := time.Now()
	if o.json {
		return writeJSON(e.stdout, toJSON(k, now))
	}
	w := newFieldWriter(e.stdout)
	w.field("ID", k.ID)
	w.field("Start", k.Start)
	w.field("Owner", k.Owner)
	w.field("Name", k.Name)
	w.field("Description", k.Description)
	w.field("State", state(k, now))
	w.field("Scopes", joinOr(k.Scopes, "none"))
	w.field("Metadata", joinOr(sortedMetadata(k.Metadata), "none"))
	w.field("Created", textTime(k.CreatedAt))
	w.field("Updated", textTime(k.UpdatedAt))
	w.field("Expires", textTime(k.ExpiresAt))
	w.field("Last used", textTime(k.LastUsedAt))
	printPolicy(w, k, true)
	if k.RotatedTo != "" {
		w.field("Rotated to", k.RotatedTo)
	}
	return nil
}

var disableCmd = &command{
	name:    "disable",
	args:    "ID",
	nargs:   1,
	summary: "refuse a key until it is enabled again",
	help: `Disables a key without deleting it: the service refuses it until 'apikey enable'.
A service caching verifications (cache.New) sees the change within
its change feed's bound (under a second with pgfeed; the poll interval with
pollfeed; with redisfeed, when --redis names its Redis), else its cache TTL.`,
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return setEnabled(ctx, e, o, args[0], false)
	},
}

var enableCmd = &command{
	name:    "enable",
	args:    "ID",
	nargs:   1,
	summary: "let a disabled key work again",
	help: `Enables a disabled key. An expired key stays refused: give it a new expiry
with 'apikey update ID --ttl 30d' (or --no-expiry), or create a new key.`,
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return setEnabled(ctx, e, o, args[0], true)
	},
}

func setEnabled(ctx context.Context, e *env, o *options, id string, enabled bool) error {
	return e.withManager(ctx, o, changeKeys, apikey.DefaultPrefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
		var k apikey.Key
		var err error
		if enabled {
			k, err = m.Enable(ctx, id)
		} else {
			k, err = m.Disable(ctx, id)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		if o.json {
			return writeJSON(e.stdout, toJSON(k, now))
		}
		fmt.Fprintf(e.stdout, "Key %s (%s) is now %s.\n", k.ID, k.Start, state(k, now))
		if enabled && k.Expired(now) {
			fmt.Fprintf(e.stdout, "It expired at %s, so it is still refused; 'apikey update %s --ttl 30d' gives it a new expiry.\n", textTime(k.ExpiresAt), k.ID)
		}
		return nil
	})
}

var rotateCmd = &command{
	name:    "rotate",
	args:    "ID",
	nargs:   1,
	summary: "issue a new key and retire the old one after --grace",
	help: `Issues a new key with the same owner, name, scopes, metadata, expiry and state,
prints it once, and makes the old key expire after --grace (at once by
default: right for a leaked key; give the clients time with --grace 24h).
The new key keeps the old key's prefix unless --prefix says otherwise.
An expired key cannot be rotated: give it a new expiry first ('apikey update
ID --ttl 1d'), or create a new key. With --json, prints what the admin API
answers, {"plaintext": "ak_…", "key": {…the new record…}}, with "replaces"
(the old key's ID) and "old_expires_at", and the "not shown again" notice on
stderr.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.Var(&o.grace, "grace", "how long the old key keeps working: a `duration` such as 24h or 7d (default: it stops at once)")
		fs.StringVar(&o.prefix, "prefix", "", "prefix of the new key (default: the old key's)")
	},
	run: runRotate,
}

func runRotate(ctx context.Context, e *env, o *options, args []string) error {
	id := args[0]
	store, closeDB, err := e.open(ctx, o, changeKeys)
	if err != nil {
		return err
	}
	defer closeDB()
	// Manager.Rotate keeps the old key's prefix unless the Manager accepts
	// it: a new prefix from --prefix needs the old one accepted.
	prefix, accepted := apikey.DefaultPrefix, []string(nil)
	if o.prefix != "" {
		old, err := getKey(ctx, store, id)
		if err != nil {
			return err
		}
		prefix = o.prefix
		if p := old.Prefix(); p != "" {
			accepted = []string{p}
		}
	}
	m, done, err := e.manager(o, store, prefix, accepted...)
	if err != nil {
		return err
	}
	defer done()
	if o.prefix != "" {
		if err := e.warnPrefix(ctx, m, o, o.prefix); err != nil {
			return err
		}
	}
	plain, k, err := m.Rotate(ctx, id, o.grace.d)
	if errors.Is(err, apikey.ErrKeyExpired) {
		return fmt.Errorf("%w; give it a new expiry first (apikey update %s --ttl 1d), or create a new key", err, id)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	// The old key's new expiry, to tell the user; it may be gone already
	// if someone revoked it in between, which changes nothing here.
	old, oldErr := store.Get(ctx, id)
	if o.json {
		out := issuedJSON{Plaintext: plain, Key: toJSON(k, now), Replaces: id}
		if oldErr == nil {
			out.OldExpiresAt = jsonTime(old.ExpiresAt)
		}
		return writeSecretJSON(e, out)
	}
	fmt.Fprintf(e.stdout, "Rotated key %s: the new key is %s, for %s.\n", id, k.ID, k.Owner)
	printSecret(e, plain)
	if oldErr == nil {
		if old.Expired(now) {
			fmt.Fprintf(e.stdout, "The old key %s no longer works.\n\n", id)
		} else {
			fmt.Fprintf(e.stdout, "The old key %s works until %s.\n\n", id, textTime(old.ExpiresAt))
		}
	}
	printSummary(e, k)
	return nil
}

// getKey reads a key through a Manager, whose checks (an ID that looks
// like a key is refused unread) come before the store's error, which
// names the ID.
func getKey(ctx context.Context, store apikey.Store, id string) (apikey.Key, error) {
	m, err := manager(store, apikey.DefaultPrefix, nil)
	if err != nil {
		return apikey.Key{}, err
	}
	defer m.Close()
	return m.Get(ctx, id)
}

var revokeCmd = &command{
	name:    "revoke",
	args:    "ID",
	nargs:   1,
	summary: "delete a key for good",
	help: `Deletes a key: it cannot be enabled again. To stop a key for a while, use
'apikey disable'. A service caching verifications sees the change within its
change feed's bound (see 'apikey help disable'), else its cache TTL.`,
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return e.withManager(ctx, o, changeKeys, apikey.DefaultPrefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
			if err := m.Revoke(ctx, args[0]); err != nil {
				return err
			}
			if o.json {
				return writeJSON(e.stdout, map[string]any{"id": args[0], "revoked": true})
			}
			fmt.Fprintf(e.stdout, "Key %s revoked.\n", args[0])
			return nil
		})
	},
}

var migrateCmd = &command{
	name:    "migrate",
	summary: "create the key table if it does not exist",
	help: `Creates the key table and its indexes (and a SQLite file) if they do not
exist; it never alters an existing table. create and serve do this first; the
other commands never create a table, and ask for this one when it is missing.
Also run it where the service's database user may not create tables (once,
with a user that may), or to check that the database answers.`,
	run: func(ctx context.Context, e *env, o *options, _ []string) error {
		store, db, _, err := e.openStore(ctx, o, dbopen.Create)
		if err != nil {
			return err
		}
		defer db.Close()
		setting := dbopen.Redact(dbopen.Setting(o.db, e.getenv))
		if err := store.Migrate(ctx); err != nil {
			return fmt.Errorf("database %s: %w", setting, err)
		}
		if o.json {
			return writeJSON(e.stdout, map[string]any{"database": setting, "table": o.table, "migrated": true})
		}
		fmt.Fprintf(e.stdout, "Table %s is ready in %s.\n", o.table, setting)
		return nil
	},
}

// shellWord returns s as one word of a POSIX shell command: as it is when
// it holds only characters no shell treats specially, else in single
// quotes.
func shellWord(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// nextPageHint is the command for the page of list after next. It keeps
// the flags that chose the database and the list; a --db holding a
// password is not repeated.
func nextPageHint(o *options, next string) string {
	var again strings.Builder
	if o.set["db"] {
		db := "'<your --db>'"
		if dbopen.Redact(o.db) == o.db {
			db = shellWord(o.db)
		}
		fmt.Fprintf(&again, " --db %s", db)
	}
	if o.set["table"] {
		fmt.Fprintf(&again, " --table %s", shellWord(o.table))
	}
	if o.set["owner"] {
		fmt.Fprintf(&again, " --owner %s", shellWord(o.owner))
	}
	if o.newestFirst {
		again.WriteString(" --newest-first")
	}
	if o.set["limit"] {
		fmt.Fprintf(&again, " --limit %d", o.limit)
	}
	if o.json {
		again.WriteString(" --json")
	}
	return fmt.Sprintf("More keys follow: apikey list%s --after %s, or --all.", again.String(), next)
}
