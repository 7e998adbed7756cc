package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// ownerGroup is the name of the owner commands: apikey owner show OWNER.
const ownerGroup = "owner"

const ownerHelp = `An owner's policy is what all of the owner's keys share: rate limits
counted for all of them together (five keys at burst=100/1s are 100 a
second between them, not 500), credits they spend together, refilled every
day or month, and how many live keys the owner may have. A request is
admitted only when its key and its owner both have room, and spends from
both. A service applies a policy set here within its WithOwnerRefresh
interval (10s by default). An owner needs a key before it has a policy.`

// ownerCommands are the commands under apikey owner, in the order usage
// lists them.
var ownerCommands = []*command{ownerShowCmd, ownerListCmd, ownerSetCmd, ownerDeleteCmd}

var ownerShowCmd = &command{
	name:    "owner show",
	args:    "OWNER",
	nargs:   1,
	summary: "show an owner's shared limits, credits and key cap",
	help: ownerHelp + `

Shows the policy of OWNER: its limits, the credits left and spent, the
refill and when the next one comes (UTC), and its most live keys. With
--json, prints what the admin API answers for GET owners/{owner}.`,
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return e.withOwners(ctx, o, readKeys, func(m *apikey.Manager) error {
			p, err := m.OwnerPolicy(ctx, args[0])
			if err != nil {
				return err
			}
			return printOwner(e, o, p)
		})
	},
}

var ownerListCmd = &command{
	name:    "owner list",
	summary: "list the owners that have a policy",
	help: ownerHelp + `

Lists every owner policy, by owner. With --json, prints them as an array,
each as 'apikey owner show --json' prints one.`,
	run: func(ctx context.Context, e *env, o *options, _ []string) error {
		return e.withOwners(ctx, o, readKeys, func(m *apikey.Manager) error {
			list, err := m.OwnerPolicies(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			if o.json {
				out := make([]ownerJSON, len(list))
				for i, p := range list {
					out[i] = toOwnerJSON(p, now)
				}
				return writeJSON(e.stdout, out)
			}
			printOwnerTable(e.stdout, list, now)
			return nil
		})
	},
}

var ownerSetCmd = &command{
	name:    "owner set",
	args:    "OWNER",
	nargs:   1,
	summary: "set (replace) an owner's policy",
	help: ownerHelp + `

Sets the policy of OWNER, replacing the one it has: what a flag does not
give, the policy no longer has, except its credits: without --credits or
--no-credits, the owner keeps the credits it has now (as PUT owners/{owner}
without remaining_uses does), so changing a limit neither gives back what
its keys spent nor lifts their cap. The credits spent so far are kept.

  apikey owner set acme --limit burst=100/1s --credits 100000 --refill 100000/monthly@1
  apikey owner set acme --max-keys 5
  apikey owner set acme --limit burst=50/1s     # the credits left stay as they are
  apikey owner set acme --no-credits --max-keys 5  # its keys share no credits

A new policy with --refill and no --credits (or with --no-credits) starts
with AMOUNT credits. With --json, prints what the admin API answers for PUT
owners/{owner}.`,
	flags: func(fs *flag.FlagSet, o *options) {
		limitFlags(fs, o)
		fs.Int64Var(&o.metering.credits, "credits", 0, "the credits all of the owner's keys spend together, `N` (default: those it has now; none for a new policy)")
		fs.BoolVar(&o.metering.noCredits, "no-credits", false, "the owner's keys share no credits (with --refill, the owner starts with AMOUNT)")
		fs.IntVar(&o.metering.maxKeys, "max-keys", 0, "the most live keys, `N`, the owner may have: create refuses one more (default: any number)")
	},
	run: runOwnerSet,
}

var ownerDeleteCmd = &command{
	name:    "owner delete",
	args:    "OWNER",
	nargs:   1,
	summary: "remove an owner's policy",
	help: ownerHelp + `

Removes the policy of OWNER: its keys keep their own limits and credits,
and no longer share any. The keys themselves stay.`,
	run: func(ctx context.Context, e *env, o *options, args []string) error {
		return e.withOwners(ctx, o, changeKeys, func(m *apikey.Manager) error {
			if err := m.DeleteOwnerPolicy(ctx, args[0]); err != nil {
				return err
			}
			if o.json {
				return writeJSON(e.stdout, map[string]any{"owner": args[0], "deleted": true})
			}
			fmt.Fprintf(e.stdout, "The policy of owner %s is removed.\n", args[0])
			return nil
		})
	},
}

func runOwnerSet(ctx context.Context, e *env, o *options, args []string) error {
	if !o.set["limit"] && !o.set["credits"] && !o.set["refill"] && !o.set["max-keys"] && !o.metering.noCredits {
		return usagef("nothing to set: give --limit, --credits, --refill or --max-keys ('apikey owner delete %s' removes the policy)", args[0])
	}
	if o.set["credits"] && o.metering.noCredits {
		return usagef("give --credits or --no-credits, not both")
	}
	credits, ok, err := o.credits("", 0)
	if err != nil {
		return err
	}
	refill, err := o.refillFromFlags()
	if err != nil {
		return err
	}
	if o.metering.maxKeys < 0 {
		return usagef("--max-keys must not be negative; leave it out for any number")
	}
	p := apikey.OwnerPolicy{Owner: args[0], RateLimits: o.metering.limits, Refill: refill, MaxKeys: o.metering.maxKeys}
	if ok {
		p.RemainingUses = &credits
	}
	return e.withOwners(ctx, o, changeKeys, func(m *apikey.Manager) error {
		if !ok && !o.metering.noCredits {
			// The credits it has now, a refill due counted. Uses spent
			// between this read and the write come back, as with PUT.
			old, err := m.OwnerPolicy(ctx, p.Owner)
			switch {
			case err == nil && old.RemainingUses != nil:
				left := creditsAt(*old.RemainingUses, old.Refill, old.RefilledAt, time.Now())
				p.RemainingUses = &left
			case err != nil && !errors.Is(err, apikey.ErrNotFound):
				return err
			}
		}
		got, err := m.SetOwnerPolicy(ctx, p)
		if err != nil {
			return err
		}
		if !o.json {
			fmt.Fprintf(e.stdout, "Set the policy of owner %s.\n\n", got.Owner)
		}
		return printOwner(e, o, got)
	})
}

// withOwners runs fn with a Manager on the database opened with access
// a. A table made before owner policies existed has none, and reads as
// such. Its errors say "no policy for owner …" or "owner … has no keys"
// without the "key not found" of ErrNotFound, which they wrap.
func (e *env) withOwners(ctx context.Context, o *options, a access, fn func(m *apikey.Manager) error) error {
	store, db, closeDB, err := e.openDB(ctx, o, a)
	if err != nil {
		return err
	}
	defer closeDB()
	var m *apikey.Manager
	done := func() { m.Close() }
	if a == readKeys {
		var s apikey.Store = store
		exists, err := dbopen.TableExists(ctx, db, store.Dialect(), store.OwnersTable())
		if err != nil {
			return e.dbError(o, err)
		}
		if !exists {
			s = apikey.NewMemoryStore()
		}
		m, err = manager(s, apikey.DefaultPrefix, nil)
		if err != nil {
			return err
		}
	} else if m, done, err = e.manager(o, store, apikey.DefaultPrefix); err != nil {
		return err
	}
	defer done()
	err = fn(m)
	if errors.Is(err, apikey.ErrNotFound) {
		err = ownerNotFound{err}
	}
	return err
}

// ownerNotFound is an ErrNotFound about an owner, without the "key not
// found" that ErrNotFound says.
type ownerNotFound struct{ err error }

func (e ownerNotFound) Error() string {
	return strings.TrimPrefix(e.err.Error(), apikey.ErrNotFound.Error()+": ")
}

func (e ownerNotFound) Unwrap() error { return e.err }

func toOwnerJSON(p apikey.OwnerPolicy, now time.Time) ownerJSON { return keyjson.FromOwner(p, now) }

// printOwner prints an owner's policy, as text or as JSON.
func printOwner(e *env, o *options, p apikey.OwnerPolicy) error {
	now := time.Now()
	if o.json {
		return writeJSON(e.stdout, toOwnerJSON(p, now))
	}
	w := newFieldWriter(e.stdout)
	w.field("Owner", p.Owner)
	w.field("Limits", limitsText(p.RateLimits, "none shared"))
	if p.RemainingUses == nil {
		w.field("Credits", "none shared")
		if p.Refill != nil {
			w.field("Refill", refillText(p.Refill))
		}
		w.field("Uses spent", strconv.FormatInt(p.UsesSpent, 10))
	} else {
		printMetering(w, p.RemainingUses, p.Refill, p.RefilledAt, p.UsesSpent, now, true)
	}
	w.field("Max keys", maxKeysText(p.MaxKeys))
	w.field("Updated", textTime(p.UpdatedAt))
	return nil
}

func maxKeysText(n int) string {
	if n == 0 {
		return "any number"
	}
	return strconv.Itoa(n)
}

// printOwnerTable prints owner policies, one a line.
func printOwnerTable(w io.Writer, list []apikey.OwnerPolicy, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No owner policies. Set one with: apikey owner set OWNER --credits N")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OWNER\tLIMITS\tCREDITS\tREFILL\tNEXT REFILL\tMAX KEYS")
	for _, p := range list {
		credits, refill, next := "-", "-", "-"
		if p.RemainingUses != nil {
			credits = strconv.FormatInt(creditsAt(*p.RemainingUses, p.Refill, p.RefilledAt, now), 10)
		}
		if p.Refill != nil {
			refill = refillSpec(*p.Refill)
			if p.Refill.RollOver {
				refill += " --roll-over"
			}
			next = textTime(p.Refill.NextRefill(now))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Owner, limitsText(p.RateLimits, "-"), credits, refill, next,
			strings.Replace(maxKeysText(p.MaxKeys), "any number", "-", 1))
	}
	tw.Flush()
}
