package apikey

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

var _ OwnerStore = (*SQLStore)(nil)

// Owners implements OwnerStore: one read of the owners table.
func (s *SQLStore) Owners(ctx context.Context) ([]OwnerPolicy, error) {
	rows, err := s.db.QueryContext(ctx, s.q.owners)
	if err != nil {
		return nil, fmt.Errorf("apikey: reading owner policies: %w", err)
	}
	defer rows.Close()
	var out []OwnerPolicy
	for rows.Next() {
		var p OwnerPolicy
		var limits []byte
		var remaining, amount sql.NullInt64
		var interval string
		var day int
		var rollOver bool
		err := rows.Scan(&p.Owner, &limits, &remaining, &amount, &interval, &day, &rollOver,
			&sqlTime{&p.RefilledAt, s.dialect}, &p.UsesSpent, &p.MaxKeys, &sqlTime{&p.UpdatedAt, s.dialect})
		if err != nil {
			return nil, fmt.Errorf("apikey: reading owner policies: %w", err)
		}
		if p.RateLimits, err = decodeRateLimits(limits); err != nil {
			return nil, fmt.Errorf("apikey: reading the rate limits of owner %q: %w", p.Owner, err)
		}
		if remaining.Valid {
			p.RemainingUses = &remaining.Int64
		}
		if amount.Valid {
			p.Refill = &Refill{Amount: amount.Int64, Interval: RefillInterval(interval), Day: day, RollOver: rollOver}
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("apikey: reading owner policies: %w", err)
	}
	return out, nil
}

// PutOwner implements OwnerStore with one upsert.
func (s *SQLStore) PutOwner(ctx context.Context, p OwnerPolicy) error {
	if p.Owner == "" {
		return fmt.Errorf("%w: owner is empty", ErrInvalidInput)
	}
	limits := encodeRateLimits(p.RateLimits)
	set := []any{limits, nullInt(p.RemainingUses), refillAmount(p.Refill), refillInterval(p.Refill), refillDay(p.Refill), refillRollOver(p.Refill),
		s.timeArg(p.RefilledAt, true), p.MaxKeys, s.timeArg(p.UpdatedAt, false)}
	args := append([]any{p.Owner, limits, nullInt(p.RemainingUses), refillAmount(p.Refill), refillInterval(p.Refill), refillDay(p.Refill),
		refillRollOver(p.Refill), s.timeArg(p.RefilledAt, true), p.MaxKeys, s.timeArg(p.UpdatedAt, false)}, set...)
	if _, err := s.db.ExecContext(ctx, s.q.putOwner, args...); err != nil {
		return fmt.Errorf("apikey: storing the policy of owner %q: %w", p.Owner, err)
	}
	return nil
}

// DeleteOwner implements OwnerStore.
func (s *SQLStore) DeleteOwner(ctx context.Context, owner string) error {
	res, err := s.db.ExecContext(ctx, s.q.deleteOwner, owner)
	if err != nil {
		return fmt.Errorf("apikey: deleting the policy of owner %q: %w", owner, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("apikey: deleting the policy of owner %q: %w", owner, err)
	} else if n == 0 {
		return fmt.Errorf("%w: no policy for owner %q", ErrNotFound, owner)
	}
	return nil
}

// SpendPooled implements OwnerStore: the owner's spend alone is one
// conditional UPDATE; with the key's too, both run in one transaction,
// rolled back unless both spent.
func (s *SQLStore) SpendPooled(ctx context.Context, sp Spend, key bool, owner string, ownerRefill *Refill) (int64, int64, error) {
	if sp.N < 1 {
		return 0, 0, fmt.Errorf("%w: spending %d uses", ErrInvalidInput, sp.N)
	}
	if err := errors.Join(checkRefill(sp.Refill), checkRefill(ownerRefill)); err != nil {
		return 0, 0, err
	}
	for range 3 {
		keyLeft, ownerLeft, done, err := s.spendPooledOnce(ctx, sp, key, owner, ownerRefill)
		if done || err != nil {
			return keyLeft, ownerLeft, err
		}
		// Nothing was spent: find out why, from what is stored, and try
		// again with the stored Refills if that would pass.
		if key {
			refill, limited, err := s.keyState(ctx, s.db, sp.ID, sp.N, sp.Now)
			if err != nil {
				return 0, 0, err
			}
			sp.Refill = refill
			if !limited {
				key = false // its limit was lifted meanwhile
			}
		}
		stored, err := s.ownerRefill(ctx, owner, sp.N, sp.Now)
		if errors.Is(err, errNoSharedUses) {
			// The caller's copy of the policy is stale: the owner has no
			// uses to spend, so only the key's own are.
			if !key {
				return -1, -1, nil
			}
			left, err := s.SpendUse(ctx, sp)
			return left, -1, err
		}
		if err != nil {
			return 0, 0, err
		}
		ownerRefill = stored
	}
	return 0, 0, fmt.Errorf("%w: the uses of owner %q changed while they were spent", ErrConflict, owner)
}

// spendPooledOnce tries the spend once; done is false when a statement
// matched no row, and then nothing was spent.
func (s *SQLStore) spendPooledOnce(ctx context.Context, sp Spend, key bool, owner string, ownerRefill *Refill) (keyLeft, ownerLeft int64, done bool, err error) {
	if !key {
		var q sqlConn = s.db
		if s.dialect == MySQL {
			conn, err := s.db.Conn(ctx)
			if err != nil {
				return 0, 0, false, fmt.Errorf("apikey: spending the uses of owner %q: %w", owner, err)
			}
			defer conn.Close()
			q = conn
		}
		left, spent, err := s.spendRow(ctx, q, s.q.ownerSpend, []any{owner}, sp.N, sp.Now, ownerRefill)
		if err != nil {
			return 0, 0, false, fmt.Errorf("apikey: spending the uses of owner %q: %w", owner, err)
		}
		return -1, left, spent, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, false, fmt.Errorf("apikey: spending the uses of key %s: %w", sp.ID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	keyLeft, spent, err := s.spendRow(ctx, tx, s.q.keySpend, []any{sp.ID, s.timeArg(sp.Now, false)}, sp.N, sp.Now, sp.Refill)
	if err != nil || !spent {
		if err != nil {
			err = fmt.Errorf("apikey: spending the uses of key %s: %w", sp.ID, err)
		}
		return 0, 0, false, err
	}
	ownerLeft, spent, err = s.spendRow(ctx, tx, s.q.ownerSpend, []any{owner}, sp.N, sp.Now, ownerRefill)
	if err != nil || !spent {
		if err != nil {
			err = fmt.Errorf("apikey: spending the uses of owner %q: %w", owner, err)
		}
		return 0, 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, fmt.Errorf("apikey: spending the uses of key %s: %w", sp.ID, err)
	}
	return keyLeft, ownerLeft, true, nil
}

// errNoSharedUses is ownerRefill's answer for an owner with no policy, or
// one without shared uses.
var errNoSharedUses = errors.New("apikey: the owner shares no uses")

// ownerRefill reads the owner's stored uses and Refill, and returns the
// Refill if n uses could be spent at now, or why not.
func (s *SQLStore) ownerRefill(ctx context.Context, owner string, n int64, now time.Time) (*Refill, error) {
	var remaining, amount sql.NullInt64
	var interval string
	var day int
	var rollOver bool
	var refilled time.Time
	err := s.db.QueryRowContext(ctx, s.q.ownerState, owner).Scan(&remaining, &amount, &interval, &day, &rollOver, &sqlTime{&refilled, s.dialect})
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && !remaining.Valid:
		return nil, errNoSharedUses
	case err != nil:
		return nil, fmt.Errorf("apikey: reading the uses of owner %q: %w", owner, err)
	}
	k := Key{ID: owner, RemainingUses: &remaining.Int64, RefilledAt: refilled, Enabled: true}
	if amount.Valid {
		k.Refill = &Refill{Amount: amount.Int64, Interval: RefillInterval(interval), Day: day, RollOver: rollOver}
	}
	if left, _, _ := usesAt(&k, now); left < n {
		return nil, fmt.Errorf("%w: owner %q has %d uses left", ErrUsageExhausted, owner, left)
	}
	return k.Refill, nil
}
