// Package backoff spaces out the reconnection attempts of the change
// feeds.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff doubles a wait from Min up to Max. Each wait is drawn between
// half and all of the current step, so replicas that lost the same server
// do not come back in step.
type Backoff struct {
	Min, Max time.Duration
	step     time.Duration
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.step == 0 {
		b.step = b.Min
	} else {
		b.step = min(2*b.step, b.Max)
	}
	half := b.step / 2
	return half + rand.N(b.step-half+1)
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.step = 0 }

// Sleep waits d, or less if ctx is done first; it reports whether the
// whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
