package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/go-apikey/apikey"
)

var updateCmd = &command{
	name:    "update",
	args:    "ID",
	nargs:   1,
	summary: "change a key's name, scopes, expiry, limits…",
	help: `Changes the fields of a key that its flags name, in one atomic update, and
leaves the others as they are: every field the admin API's PATCH changes.
The key itself, its owner and its prefix never change (rotate gives a new
key). A list given to --scope, --meta or --allowed-ips replaces the key's.

  apikey update ID --ttl 30d            expires 30 days from now (also an expired key)
  apikey update ID --ttl 0              expires now
  apikey update ID --no-expiry          never expires
  apikey update ID --scope bots:read --name ci
  apikey update ID --rate-limit 100/1m --credits 500
  apikey update ID --limit burst=10/1s --refill 1000/daily --roll-over
  apikey update ID --no-limits --no-refill

--limit replaces all of the key's named limits. --credits sets the credits
left; --refill (with --roll-over, or without it) replaces the refill, and
gives a key without a usage limit one of AMOUNT credits; --no-refill stops
refills and keeps the credits left; --no-usage-limit lifts the limit and
stops refills.

A key rotated into another keeps the expiry the rotation gave it (the end of
its grace period): update the new key instead. With --json, prints the key
as the admin API does.`,
	flags: func(fs *flag.FlagSet, o *options) {
		keyFlags(fs, o)
		fs.BoolVar(&o.enabled, "enabled", false, "--enabled=false disables the key, --enabled=true enables it, as disable and enable do")
		fs.Int64Var(&o.metering.credits, "credits", 0, "the credits left, `N`: how many more requests the key may make (0: none)")
		fs.Int64Var(&o.remainingUses, "remaining-uses", 0, "the same as --credits")
		fs.BoolVar(&o.metering.noLimits, "no-limits", false, "remove every named limit (--limit)")
		fs.BoolVar(&o.metering.noRefill, "no-refill", false, "stop refills; the credits left stay")
		fs.BoolVar(&o.noScopes, "no-scopes", false, "remove every scope")
		fs.BoolVar(&o.noMetadata, "no-metadata", false, "remove all metadata")
		fs.BoolVar(&o.noExpiry, "no-expiry", false, "never expire")
		fs.BoolVar(&o.noRateLimit, "no-rate-limit", false, "remove the key's own rate limit: the service's default applies")
		fs.BoolVar(&o.noAllowedIPs, "no-allowed-ips", false, "let the key work from any address")
		fs.BoolVar(&o.noUsageLimit, "no-usage-limit", false, "lift the usage limit")
	},
	run: runUpdate,
}

// changes returns the changes the update flags ask for, in the vocabulary
// of the admin API's PATCH: each field given changes, a --no-… flag clears
// one, and a field given both ways is a usage error.
func (o *options) changes(now time.Time) ([]apikey.KeyChange, error) {
	for _, pair := range [][2]string{
		{"scope", "no-scopes"}, {"meta", "no-metadata"}, {"ttl", "no-expiry"}, {"expires-in", "no-expiry"},
		{"expires-at", "no-expiry"}, {"rate-limit", "no-rate-limit"}, {"allowed-ips", "no-allowed-ips"},
		{"remaining-uses", "no-usage-limit"}, {"credits", "no-usage-limit"}, {"limit", "no-limits"},
		{"refill", "no-refill"}, {"refill", "no-usage-limit"}, {"roll-over", "no-refill"},
	} {
		if o.set[pair[0]] && o.set[pair[1]] {
			return nil, usagef("give --%s or --%s, not both", pair[0], pair[1])
		}
	}
	var changes []apikey.KeyChange
	if o.set["name"] {
		changes = append(changes, apikey.SetName(o.name))
	}
	if o.set["description"] {
		changes = append(changes, apikey.SetDescription(o.description))
	}
	switch {
	case o.set["scope"]:
		changes = append(changes, apikey.SetScopes(o.scopes...))
	case o.noScopes:
		changes = append(changes, apikey.SetScopes())
	}
	switch {
	case o.set["meta"]:
		changes = append(changes, apikey.SetMetadata(o.meta))
	case o.noMetadata:
		changes = append(changes, apikey.SetMetadata(nil))
	}
	expires, ok, err := o.expiry(now)
	if err != nil {
		return nil, err
	}
	switch {
	case ok:
		changes = append(changes, apikey.SetExpiry(expires))
	case o.noExpiry:
		changes = append(changes, apikey.SetExpiry(time.Time{}))
	}
	switch {
	case o.set["rate-limit"]:
		changes = append(changes, apikey.SetRateLimit(o.rateLimit.rl))
	case o.noRateLimit:
		changes = append(changes, apikey.SetRateLimit(apikey.RateLimit{}))
	}
	switch {
	case o.set["limit"]:
		changes = append(changes, apikey.SetRateLimits(o.metering.limits...))
	case o.metering.noLimits:
		changes = append(changes, apikey.SetRateLimits())
	}
	switch {
	case o.set["allowed-ips"]:
		changes = append(changes, apikey.SetAllowedIPs(o.allowedIPs...))
	case o.noAllowedIPs:
		changes = append(changes, apikey.SetAllowedIPs())
	}
	// The refill first: on a key without a usage limit it sets the credits
	// to its amount, and --credits given with it then says what they are.
	refill, err := o.refillFromFlags()
	if err != nil {
		return nil, err
	}
	switch {
	case refill != nil:
		changes = append(changes, apikey.SetRefill(refill))
	case o.metering.noRefill:
		changes = append(changes, apikey.SetRefill(nil))
	}
	credits, ok, err := o.credits("remaining-uses", 0)
	if err != nil {
		return nil, err
	}
	switch {
	case ok:
		changes = append(changes, apikey.SetRemainingUses(credits))
	case o.set["remaining-uses"]:
		if o.remainingUses < 0 {
			return nil, usagef("--remaining-uses must not be negative; --no-usage-limit lifts the limit")
		}
		changes = append(changes, apikey.SetRemainingUses(o.remainingUses))
	case o.noUsageLimit:
		changes = append(changes, apikey.NoUsageLimit())
	}
	if o.set["enabled"] {
		// An operator's change, as apikey enable and disable make it.
		changes = append(changes, apikey.SetEnabled(o.enabled))
	}
	if len(changes) == 0 {
		return nil, usagef("nothing to change: give a flag such as --ttl 30d (apikey help update lists them)")
	}
	return changes, nil
}

func runUpdate(ctx context.Context, e *env, o *options, args []string) error {
	id := args[0]
	changes, err := o.changes(time.Now())
	if err != nil {
		return err
	}
	return e.withManager(ctx, o, changeKeys, apikey.DefaultPrefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
		// A rotated key's expiry may only come earlier: SetExpiry checks
		// that on the stored key, in the same step as the change.
		k, err := m.Update(ctx, id, changes...)
		if err != nil {
			return err
		}
		if o.json {
			return writeJSON(e.stdout, toJSON(k, time.Now()))
		}
		fmt.Fprintf(e.stdout, "Updated key %s.\n\n", k.ID)
		return printKey(e, o, k)
	})
}
