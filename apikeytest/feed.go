package apikeytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
)

// A FeedHarness makes the processes of one service for TestFeed.
type FeedHarness struct {
	// Open is called once per subtest, for a fresh set of keys (a new
	// table, a new channel). It returns a function that makes one more
	// process sharing those keys: its own store and its own feed, as
	// separate replicas of a service would have. Register cleanup with t.
	Open func(t *testing.T) (newProcess func() (apikey.Store, cache.Feed))
	// Bound is how soon every other process must refuse a key after one
	// process disabled, rotated or revoked it: the feed's promise.
	Bound time.Duration
}

// TestFeed runs the Feed conformance suite. Each replica caches keys for
// an hour, also while its feed is down, so that only the feed can make it
// see a change in time:
//
//   - Propagation: three processes; a key revoked, disabled or rotated
//     through one is refused by the others within Bound, 30 times, with
//     no reconnection meanwhile (which would empty the caches and explain
//     a refusal).
//   - Handler: a feed calls Connected before any Changed, calls its
//     handler from one goroutine at a time, and reports a change made
//     through another process's cache.
//   - Stop: Subscribe returns once its context is done, leaving no
//     goroutine behind.
func TestFeed(t *testing.T, h FeedHarness) {
	t.Helper()
	if h.Open == nil || h.Bound <= 0 {
		t.Fatal("apikeytest.TestFeed needs Open and a positive Bound")
	}
	t.Run("Propagation", func(t *testing.T) {
		newProcess := h.Open(t)
		var rs []*feedtest.Replica
		for range 3 {
			s, f := newProcess()
			rs = append(rs, feedtest.NewReplica(t, s, f, 0))
		}
		st := feedtest.Propagation(t, rs, 30, h.Bound)
		t.Logf("3 replicas, 30 changes: %v", st)
	})
	t.Run("Handler", func(t *testing.T) { testFeedHandler(t, h) })
	t.Run("Stop", func(t *testing.T) {
		newProcess := h.Open(t)
		_, f := newProcess()
		before := feedtest.Goroutines()
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recordingHandler{connected: make(chan struct{})}
		done := make(chan error, 1)
		go func() { done <- f.Subscribe(ctx, rec) }()
		select {
		case <-rec.connected:
		case <-time.After(10 * time.Second):
			t.Fatal("the feed did not connect within 10 s")
		}
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Subscribe did not return within 10 s of its context ending")
		}
		feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)
	})
}

// testFeedHandler subscribes a recording handler to one process's feed
// and changes a key through another process's cache.
func testFeedHandler(t *testing.T, h FeedHarness) {
	ctx := context.Background()
	newProcess := h.Open(t)
	_, f := newProcess()
	rec := &recordingHandler{connected: make(chan struct{})}
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Subscribe(subCtx, rec) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-rec.connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed did not connect within 10 s")
	}

	writerStore, writerFeed := newProcess()
	writer := feedtest.NewReplica(t, writerStore, writerFeed, 0)
	_, k, err := writer.Manager.Create(ctx, apikey.NewKey{Owner: "alice"})
	require.NoError(t, err)
	_, err = writer.Manager.Disable(ctx, k.ID)
	require.NoError(t, err)
	feedtest.Await(t, h.Bound, "the feed reports the disabled key", func() bool { return rec.saw(k.ID) })
	assert.False(t, rec.changedBeforeConnected(), "Changed came before Connected")
	assert.False(t, rec.overlapped(), "the handler was called from two goroutines at once")
}

// recordingHandler notes what a feed tells it.
type recordingHandler struct {
	mu          sync.Mutex
	busy        bool
	overlap     bool
	isConnected bool
	early       bool
	changed     map[string]bool
	connected   chan struct{} // closed at the first Connected
	once        sync.Once
}

func (r *recordingHandler) enter() {
	r.mu.Lock()
	if r.busy {
		r.overlap = true
	}
	r.busy = true
	r.mu.Unlock()
}

func (r *recordingHandler) leave() {
	r.mu.Lock()
	r.busy = false
	r.mu.Unlock()
}

func (r *recordingHandler) Connected() {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.isConnected = true
	r.mu.Unlock()
	r.once.Do(func() { close(r.connected) })
}

func (r *recordingHandler) Changed(keyID string) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.isConnected {
		r.early = true
	}
	if r.changed == nil {
		r.changed = map[string]bool{}
	}
	r.changed[keyID] = true
}

func (r *recordingHandler) Disconnected(error) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.isConnected = false
	r.mu.Unlock()
}

func (r *recordingHandler) saw(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed[id]
}

func (r *recordingHandler) changedBeforeConnected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.early
}

func (r *recordingHandler) overlapped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overlap
}
