package apikey

import (
	"fmt"
	"time"
)

// RefillInterval is how often a key's uses are refilled (see Refill).
type RefillInterval string

// The intervals of a Refill.
const (
	// RefillDaily refills at 00:00 UTC every day.
	RefillDaily RefillInterval = "daily"
	// RefillMonthly refills at 00:00 UTC on Refill.Day of every month.
	RefillMonthly RefillInterval = "monthly"
)

// Refill gives a usage-limited key its uses (credits) again every period.
// Periods are UTC: a daily period starts at 00:00 UTC, a monthly one at
// 00:00 UTC on Day of the month, or on the month's last day when it is
// shorter (Day 31 in February is the 28th or 29th).
//
// Refills are lazy: the step that spends a use also refills, when the last
// refill was in an earlier period. No job runs, a key nobody uses costs
// nothing, and what a key may spend in a period is exact across replicas.
// Unused uses do not roll over: a refill sets the key's uses to Amount,
// unless RollOver adds Amount to what is left.
type Refill struct {
	// Amount is the key's uses at the start of each period, 1 or more.
	Amount int64
	// Interval is RefillDaily or RefillMonthly.
	Interval RefillInterval
	// Day is, for RefillMonthly, the day of the month periods start on, 1
	// to 31; 0 for RefillDaily.
	Day int
	// RollOver adds Amount to the uses left at a refill, instead of
	// setting them to Amount.
	RollOver bool
}

// PeriodStart returns when the refill period holding now began.
func (r Refill) PeriodStart(now time.Time) time.Time {
	now = now.UTC()
	if r.Interval != RefillMonthly {
		y, m, d := now.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	y, m, _ := now.Date()
	start := monthDay(y, m, r.Day)
	if start.After(now) {
		start = monthDay(y, m-1, r.Day)
	}
	return start
}

// NextRefill returns when the period after the one holding now begins.
func (r Refill) NextRefill(now time.Time) time.Time {
	start := r.PeriodStart(now)
	if r.Interval != RefillMonthly {
		return start.AddDate(0, 0, 1)
	}
	y, m, _ := start.Date() // a period starts in the month it is named for
	return monthDay(y, m+1, r.Day)
}

// monthDay is 00:00 UTC on day of month m of year y, or on the month's
// last day when it has fewer days.
func monthDay(y int, m time.Month, day int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	y, m, _ = first.Date()
	return time.Date(y, m, min(day, daysIn(y, m)), 0, 0, 0, 0, time.UTC)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// checkRefill refuses a refill no store could apply, naming the field.
func checkRefill(r *Refill) error {
	if r == nil {
		return nil
	}
	switch {
	case r.Amount < 1:
		return fmt.Errorf("%w: Refill.Amount must be 1 or more", ErrInvalidInput)
	case r.Amount > MaxRemainingUses:
		return fmt.Errorf("%w: Refill.Amount must be at most %d", ErrInvalidInput, MaxRemainingUses)
	case r.Interval == RefillDaily && r.Day != 0:
		return fmt.Errorf("%w: Refill.Day is for monthly refills; leave it 0 for daily ones", ErrInvalidInput)
	case r.Interval == RefillMonthly && (r.Day < 1 || r.Day > 31):
		return fmt.Errorf("%w: Refill.Day must be 1 to 31 for a monthly refill", ErrInvalidInput)
	case r.Interval != RefillDaily && r.Interval != RefillMonthly:
		return fmt.Errorf("%w: unknown Refill.Interval %q: use %q or %q", ErrInvalidInput, r.Interval, RefillDaily, RefillMonthly)
	}
	return nil
}

// MaxRemainingUses is the most uses a key or an owner may be given, and
// the largest Refill.Amount: 2^53-1, the largest whole number JavaScript
// (the admin page, most JSON readers) keeps exactly. A refill that rolls
// over stops there.
const MaxRemainingUses int64 = 1<<53 - 1

// checkUses refuses a count of uses below 0 or above MaxRemainingUses,
// naming what it is.
func checkUses(what string, n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("%w: negative %s", ErrInvalidInput, what)
	case n > MaxRemainingUses:
		return fmt.Errorf("%w: %s above %d", ErrInvalidInput, what, MaxRemainingUses)
	}
	return nil
}

// rollOver returns left plus amount, or MaxRemainingUses if that is more,
// without overflow for any values a store may hold.
func rollOver(left, amount int64) int64 {
	if left > MaxRemainingUses-amount {
		return MaxRemainingUses
	}
	return left + amount
}

// UsesAt returns the uses a key or an owner has at now that had left when
// it was last refilled at refilledAt: left in the same period; once a new
// period has begun, Amount, or with RollOver left plus Amount up to
// MaxRemainingUses. It is what the next spend finds, by the rule every
// store applies, so that what is shown agrees with what is spent.
func (r Refill) UsesAt(left int64, refilledAt, now time.Time) int64 {
	uses, _, _ := r.refill(left, refilledAt, now)
	return uses
}

// refill is UsesAt that also says whether a refill is due at now, and
// the period it would start.
func (r Refill) refill(left int64, refilledAt, now time.Time) (uses int64, due bool, period time.Time) {
	period = r.PeriodStart(now)
	if !refilledAt.Before(period) {
		return left, false, period
	}
	if r.RollOver {
		return rollOver(left, r.Amount), true, period
	}
	return r.Amount, true, period
}

// usesAt returns the uses k has at now, refilled when its refill is due,
// whether a refill is due, and the period it would start.
func usesAt(k *Key, now time.Time) (left int64, due bool, period time.Time) {
	if k.RemainingUses == nil {
		return 0, false, time.Time{}
	}
	if k.Refill == nil {
		return *k.RemainingUses, false, time.Time{}
	}
	return k.Refill.refill(*k.RemainingUses, k.RefilledAt, now)
}

// UsageExhaustedError is the refusal of a request whose key has fewer uses
// left than the request costs. It wraps ErrUsageExhausted. The middleware
// answers it with 402 and, for a key with a Refill, Retry-After.
type UsageExhaustedError struct {
	// Reset is the time until the key's next refill, or zero when its uses
	// never come back by themselves.
	Reset time.Duration
}

func (e *UsageExhaustedError) Error() string {
	if e.Reset > 0 {
		return fmt.Sprintf("%v: refilled in %v", ErrUsageExhausted, e.Reset)
	}
	return ErrUsageExhausted.Error()
}

// Unwrap returns ErrUsageExhausted.
func (e *UsageExhaustedError) Unwrap() error { return ErrUsageExhausted }
