package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// The metering vocabulary of the command, the admin API and Key (see the
// README's table):
//
//	--limit NAME=N/WINDOW  a named rate limit   rate_limits [{"name", "limit", "window"}]
//	--credits N            the uses left        remaining_uses (max_uses on create)
//	--refill N/daily       credits again every  refill {"amount", "interval", "day", "roll_over"}
//	   N/monthly@DAY       day or month
//
// Credits are what a usage-limited key (or an owner's keys together) may
// still spend, one a request or the request's cost; "uses spent" counts
// what was spent.

// limitList is a repeatable NAME=LIMIT/WINDOW flag of named rate limits,
// such as burst=10/1s: the admin API's rate_limits.
type limitList []apikey.RateLimit

func (l *limitList) String() string {
	if l == nil {
		return ""
	}
	return limitsText(*l, "")
}

func (l *limitList) Set(v string) error {
	name, spec, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want NAME=LIMIT/WINDOW, such as burst=10/1s or daily=10000/1d")
	}
	var r rateLimit
	if err := r.Set(spec); err != nil {
		if strings.HasPrefix(err.Error(), "want LIMIT/WINDOW") {
			// The form of the whole flag, not of its part after NAME=.
			return errors.New("want NAME=LIMIT/WINDOW, such as burst=10/1s or daily=10000/1d")
		}
		return err
	}
	if r.rl.Limit < 1 {
		return errors.New("the limit must be 1 or more")
	}
	if r.rl.Window < time.Millisecond {
		return errors.New("the window must be at least 1ms")
	}
	for _, have := range *l {
		if have.Name == name {
			return fmt.Errorf("limit %q given twice", name)
		}
	}
	r.rl.Name = name
	*l = append(*l, r.rl)
	return nil
}

// refillFlag is a --refill flag, AMOUNT/daily or AMOUNT/monthly@DAY: the
// admin API's refill {"amount", "interval", "day"}. --roll-over sets its
// roll_over.
type refillFlag struct{ r *apikey.Refill }

func (f *refillFlag) String() string {
	if f == nil || f.r == nil {
		return ""
	}
	return refillSpec(*f.r)
}

const refillWant = "want AMOUNT/daily or AMOUNT/monthly@DAY, such as 1000/daily or 50000/monthly@1"

func (f *refillFlag) Set(v string) error {
	amount, period, ok := strings.Cut(v, "/")
	n, err := strconv.ParseInt(amount, 10, 64)
	if !ok || err != nil {
		return errors.New(refillWant)
	}
	if n < 1 {
		return errors.New("the amount must be 1 or more")
	}
	r := &apikey.Refill{Amount: n}
	switch interval, day, hasDay := strings.Cut(period, "@"); {
	case interval == string(apikey.RefillDaily) && !hasDay:
		r.Interval = apikey.RefillDaily
	case interval == string(apikey.RefillMonthly) && hasDay:
		d, err := strconv.Atoi(day)
		if err != nil || d < 1 || d > 31 {
			return errors.New("the day of a monthly refill is 1 to 31 (31: the month's last day)")
		}
		r.Interval, r.Day = apikey.RefillMonthly, d
	case interval == string(apikey.RefillMonthly):
		return errors.New("a monthly refill needs its day: AMOUNT/monthly@DAY, such as 50000/monthly@1")
	default:
		return errors.New(refillWant)
	}
	f.r = r
	return nil
}

// meteringOptions are the metering flags of create, update and owner set.
type meteringOptions struct {
	limits   limitList
	credits  int64
	refill   refillFlag
	rollOver bool
	maxKeys  int
	// update only
	noLimits bool
	noRefill bool
	// owner set only
	noCredits bool
}

// refillFromFlags returns the refill --refill and --roll-over give, nil
// for none, or a usage error for --roll-over alone.
func (o *options) refillFromFlags() (*apikey.Refill, error) {
	if o.set["roll-over"] && !o.set["refill"] {
		return nil, usagef("--roll-over goes with --refill: give the whole refill, such as --refill 1000/daily --roll-over")
	}
	if o.metering.refill.r == nil {
		return nil, nil
	}
	r := *o.metering.refill.r
	r.RollOver = o.metering.rollOver
	return &r, nil
}

// credits returns the credits --credits gives, and whether it was given;
// min is the least it may be. older is the flag's older spelling
// (--max-uses on create, --remaining-uses on update), which keeps its own
// checks: giving both is a usage error. owner set has none ("").
func (o *options) credits(older string, min int64) (int64, bool, error) {
	if older != "" && o.set["credits"] && o.set[older] {
		return 0, false, usagef("--%s is --credits: give one of them", older)
	}
	if !o.set["credits"] {
		return 0, false, nil
	}
	n := o.metering.credits
	switch {
	case n < min && min == 1:
		return 0, false, usagef("--credits must be 1 or more; leave it out for no usage limit")
	case n < min:
		return 0, false, usagef("--credits must not be negative")
	}
	return n, true, nil
}

// windowText is a rate limit's window as --rate-limit and --limit take it:
// whole days as 1d, other durations as Go prints them without trailing
// zero units (1m, 1h30m, 1.5s).
func windowText(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// limitsText is named limits as --limit takes them, comma separated, or
// none when there are none.
func limitsText(limits []apikey.RateLimit, none string) string {
	parts := make([]string, len(limits))
	for i, r := range limits {
		parts[i] = fmt.Sprintf("%s=%d/%s", r.Name, r.Limit, windowText(r.Window))
	}
	return joinOr(parts, none)
}

// refillSpec is a refill as --refill takes it, without its roll-over.
func refillSpec(r apikey.Refill) string {
	if r.Interval == apikey.RefillMonthly {
		return fmt.Sprintf("%d/monthly@%d", r.Amount, r.Day)
	}
	return fmt.Sprintf("%d/%s", r.Amount, r.Interval)
}

// refillText is a refill for people: as --refill takes it, and what
// happens to unused credits.
func refillText(r *apikey.Refill) string {
	if r == nil {
		return "none"
	}
	if r.RollOver {
		return refillSpec(*r) + " (--roll-over: unused credits are kept)"
	}
	return refillSpec(*r) + " (unused credits lapse)"
}

// creditsAt returns the credits of something with a usage limit at now:
// left, refilled as the store will refill them at the next use when a
// period has passed since refilledAt.
func creditsAt(left int64, r *apikey.Refill, refilledAt, now time.Time) int64 {
	if r == nil {
		return left
	}
	return r.UsesAt(left, refilledAt, now)
}

// printMetering shows credits, their refill and what was spent; with all
// false, only what is set. shared says the credits are an owner's.
func printMetering(w fieldWriter, remaining *int64, r *apikey.Refill, refilledAt time.Time, spent int64, now time.Time, all bool) {
	if all || remaining != nil {
		credits := "no limit"
		if remaining != nil {
			credits = strconv.FormatInt(creditsAt(*remaining, r, refilledAt, now), 10) + " left"
		}
		w.field("Credits", credits)
	}
	if all || r != nil {
		w.field("Refill", refillText(r))
	}
	if r != nil {
		w.field("Next refill", textTime(r.NextRefill(now)))
	}
	if all {
		w.field("Uses spent", strconv.FormatInt(spent, 10))
	}
}

// ownerJSON is an owner's policy as --json prints it, the admin API's form.
type ownerJSON = keyjson.Owner
