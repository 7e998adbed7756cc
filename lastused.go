package apikey

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// usageRecorder collects last-used times in memory and writes them in
// batches from a goroutine started on first use.
//
// Every successful request calls record, so its common case takes no lock:
// seen maps a key ID to the flush window in which it was last recorded, and
// a key already recorded in the current window returns after two atomic
// loads. Only a key's first use in a window takes the mutex.
type usageRecorder struct {
	interval time.Duration
	store    Store
	logger   *slog.Logger

	window atomic.Int64 // bumped by every flush
	seen   sync.Map     // key ID -> *atomic.Int64: the window it was recorded in

	mu      sync.Mutex
	pending map[string]time.Time
	started bool
	stopped bool
	quit    chan struct{}
	done    chan struct{}

	flushMu sync.Mutex // one flush at a time
}

// record notes a use of key id. Only the first use of a key in each flush
// window reads the clock and is written, so LastUsedAt is exact to within
// one interval.
func (u *usageRecorder) record(id string, now func() time.Time) {
	if u.interval <= 0 {
		return
	}
	w := u.window.Load()
	if v, ok := u.seen.Load(id); ok && v.(*atomic.Int64).Load() == w {
		return
	}
	u.mu.Lock()
	w = u.window.Load() // flush bumps it under mu
	if u.pending == nil {
		u.pending = make(map[string]time.Time)
	}
	if _, ok := u.pending[id]; !ok {
		u.pending[id] = now()
	}
	if v, ok := u.seen.Load(id); ok {
		v.(*atomic.Int64).Store(w)
	} else {
		n := new(atomic.Int64)
		n.Store(w)
		u.seen.Store(id, n)
	}
	if !u.started && !u.stopped {
		u.started = true
		u.quit, u.done = make(chan struct{}), make(chan struct{})
		go u.loop()
	}
	u.mu.Unlock()
}

func (u *usageRecorder) loop() {
	defer close(u.done)
	t := time.NewTicker(u.interval)
	defer t.Stop()
	for {
		select {
		case <-u.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), u.interval)
			if err := u.flush(ctx); err != nil {
				u.logger.Warn("apikey: writing last-used times failed; will retry", "error", err)
			}
			cancel()
		}
	}
}

func (u *usageRecorder) stop() {
	u.mu.Lock()
	if u.stopped {
		u.mu.Unlock()
		return
	}
	u.stopped = true
	started := u.started
	u.mu.Unlock()
	if started {
		close(u.quit)
		<-u.done
	}
}

func (u *usageRecorder) flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	u.mu.Lock()
	batch := u.pending
	u.pending = nil
	w := u.window.Add(1) // uses from now on belong to the next batch
	u.mu.Unlock()
	// Forget keys not used for a window, so seen stays as small as the set
	// of keys in use (revoked keys leave it).
	u.seen.Range(func(id, v any) bool {
		if v.(*atomic.Int64).Load() < w-1 {
			u.seen.Delete(id)
		}
		return true
	})
	if len(batch) == 0 {
		return nil
	}
	if err := u.store.RecordLastUsed(ctx, batch); err != nil {
		// Keep the batch for the next try, without moving newer times back.
		// Once batch is pending again, record writes to it: count it first.
		n := len(batch)
		u.mu.Lock()
		if u.pending == nil {
			u.pending = batch
		} else {
			for id, t := range batch {
				if prev, ok := u.pending[id]; !ok || prev.Before(t) {
					u.pending[id] = t
				}
			}
		}
		u.mu.Unlock()
		return fmt.Errorf("%w: recording last-used times of %d keys: %w", ErrStoreUnavailable, n, err)
	}
	return nil
}
