package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
)

// changedIDs returns the key IDs logged after seq, and the last seq.
func changedIDs(t *testing.T, s *apikey.SQLStore, after int64) ([]string, int64) {
	t.Helper()
	changes, err := s.Changes(context.Background(), after, 1000)
	require.NoError(t, err)
	var ids []string
	for _, c := range changes {
		require.Greater(t, c.Seq, after)
		after = c.Seq
		ids = append(ids, c.KeyID)
	}
	return ids, after
}

// The triggers log every change that matters to verification, from any
// writer, and nothing else: not last-used times, not uses spent that leave
// some, not an update that changes nothing.
func TestChangeLogRecordsWhatMatters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, table := newTable(t, db, b.dialect)
		m := newManager(t, s)
		_, k := mustCreate(t, m, apikey.NewKey{Owner: "alice", Scopes: []string{"a"}})
		_, limited := mustCreate(t, m, apikey.NewKey{Owner: "alice", MaxUses: 3})
		ids, seq := changedIDs(t, s, 0)
		require.Empty(t, ids, "creating keys logs nothing")

		steps := []struct {
			name string
			do   func()
			want []string
		}{
			{"last used", func() {
				require.NoError(t, s.RecordLastUsed(ctx, map[string]time.Time{k.ID: time.Now(), limited.ID: time.Now()}))
			}, nil},
			{"uses spent, some left", func() {
				for _, want := range []int64{2, 1} {
					left, err := s.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: time.Now()})
					require.NoError(t, err)
					require.Equal(t, want, left)
				}
			}, nil},
			{"last use", func() {
				left, err := s.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: time.Now()})
				require.NoError(t, err)
				require.Equal(t, int64(0), left)
			}, []string{limited.ID}},
			{"no use left to spend", func() {
				_, err := s.SpendUse(ctx, apikey.Spend{ID: limited.ID, N: 1, Now: time.Now()})
				require.ErrorIs(t, err, apikey.ErrUsageExhausted)
			}, nil},
			{"uses given back", func() {
				_, err := m.Update(ctx, limited.ID, apikey.SetRemainingUses(5))
				require.NoError(t, err)
			}, []string{limited.ID}},
			{"disable", func() {
				_, err := m.Disable(ctx, k.ID)
				require.NoError(t, err)
			}, []string{k.ID}},
			{"disable again changes nothing", func() {
				_, err := m.Disable(ctx, k.ID)
				require.NoError(t, err)
			}, nil},
			{"enable", func() {
				_, err := m.Enable(ctx, k.ID)
				require.NoError(t, err)
			}, []string{k.ID}},
			{"scopes", func() {
				_, err := s.Update(ctx, k.ID, func(k *apikey.Key) error { k.Scopes = []string{"a", "b"}; return nil })
				require.NoError(t, err)
			}, []string{k.ID}},
			{"expiry", func() {
				_, err := s.Update(ctx, k.ID, func(k *apikey.Key) error {
					k.ExpiresAt = time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
					return nil
				})
				require.NoError(t, err)
			}, []string{k.ID}},
			{"limit lifted", func() {
				_, err := s.Update(ctx, limited.ID, func(k *apikey.Key) error { k.RemainingUses = nil; return nil })
				require.NoError(t, err)
			}, []string{limited.ID}},
			{"manual SQL, by another writer", func() {
				q := "UPDATE " + table + " SET enabled = ? WHERE id = ?"
				if b.dialect == apikey.Postgres {
					q = "UPDATE " + table + " SET enabled = $1 WHERE id = $2"
				}
				_, err := db.Exec(q, false, k.ID)
				require.NoError(t, err)
			}, []string{k.ID}},
			{"rotate", func() {
				_, err := m.Enable(ctx, k.ID)
				require.NoError(t, err)
				_, _, err = m.Rotate(ctx, k.ID, time.Minute)
				require.NoError(t, err)
			}, []string{k.ID, k.ID}},
			{"revoke", func() {
				require.NoError(t, m.Revoke(ctx, limited.ID))
			}, []string{limited.ID}},
		}
		for _, step := range steps {
			step.do()
			var ids []string
			ids, seq = changedIDs(t, s, seq)
			require.Equal(t, step.want, ids, step.name)
		}
		last, err := s.LastChange(ctx)
		require.NoError(t, err)
		require.Equal(t, seq, last)
	})
}

func TestChangeLogPagingAndPruning(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		s, _ := newTable(t, db, b.dialect)
		m := newManager(t, s)
		last, err := s.LastChange(ctx)
		require.NoError(t, err)
		require.Zero(t, last, "an empty log")
		n, err := s.PruneChanges(ctx, 0)
		require.NoError(t, err)
		require.Zero(t, n)

		var want []string
		for range 5 {
			_, k := mustCreate(t, m, apikey.NewKey{})
			require.NoError(t, m.Revoke(ctx, k.ID))
			want = append(want, k.ID)
		}
		page, err := s.Changes(ctx, 0, 2)
		require.NoError(t, err)
		require.Len(t, page, 2)
		rest, err := s.Changes(ctx, page[1].Seq, 10)
		require.NoError(t, err)
		require.Len(t, rest, 3)
		var got []string
		for _, c := range append(page, rest...) {
			got = append(got, c.KeyID)
		}
		require.Equal(t, want, got)
		none, err := s.Changes(ctx, 0, 0)
		require.NoError(t, err)
		require.Empty(t, none)

		n, err = s.PruneChanges(ctx, time.Hour)
		require.NoError(t, err)
		require.Zero(t, n, "nothing is an hour old")
		// The database clock, not ours, dates the rows: wait until they
		// are older than a millisecond by its clock.
		var pruned int64
		require.Eventually(t, func() bool {
			n, err = s.PruneChanges(ctx, time.Millisecond)
			pruned += n
			return err == nil && pruned == 4
		}, 5*time.Second, 10*time.Millisecond, "prunes all but the newest: %d, %v", pruned, err)
		left, err := s.Changes(ctx, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []apikey.Change{rest[2]}, left, "the newest entry is kept")
		last, err = s.LastChange(ctx)
		require.NoError(t, err)
		require.Equal(t, rest[2].Seq, last)
	})
}

// Migrate is idempotent with the change log too, concurrently, and works
// for the longest table names and mixed case.
func TestChangeLogMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, db *sql.DB) {
		ctx := context.Background()
		table := "ApiKey_" + strings.Repeat("x", 44) + rand.Text()[:12]
		require.Len(t, table, 63)
		s, err := apikey.NewSQLStore(db, b.dialect, apikey.WithTable(table))
		require.NoError(t, err)
		dropOnCleanup(t, db, s)
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { assert.NoError(t, s.Migrate(ctx), "Migrate %d", i) })
		}
		wg.Wait()
		require.False(t, t.Failed())
		require.NoError(t, s.Migrate(ctx))
		m := newManager(t, s)
		_, k := mustCreate(t, m, apikey.NewKey{})
		_, err = m.Disable(ctx, k.ID)
		require.NoError(t, err)
		ids, _ := changedIDs(t, s, 0)
		require.Equal(t, []string{k.ID}, ids, "one trigger, however many migrations")
		if b.dialect == apikey.Postgres {
			require.Equal(t, strings.ToLower(s.NotifyChannel()), s.NotifyChannel())
			require.LessOrEqual(t, len(s.NotifyChannel()), 63)
		} else {
			require.Empty(t, s.NotifyChannel())
		}
	})
}
