package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/feedtest"
)

// memBus is an in-process feed shared by several caches. A test can cut
// one subscriber off and bring it back, to play a lost connection.
type memBus struct {
	mu   sync.Mutex
	subs map[*memSub]bool
}

type memSub struct {
	events chan memEvent
	down   bool // under memBus.mu: changes are not delivered
}

type memEvent struct {
	kind string // "changed", "down", "up"
	id   string
	done chan struct{} // closed once the handler ran
}

func newMemBus() *memBus { return &memBus{subs: map[*memSub]bool{}} }

// feed returns a Feed on the bus for one process, which reports the
// subscription it makes to sub.
func (b *memBus) feed() *memFeed { return &memFeed{bus: b, subscribed: make(chan *memSub, 1)} }

type memFeed struct {
	bus        *memBus
	subscribed chan *memSub
	publishes  atomic.Int64
}

func (f *memFeed) Publish(_ context.Context, id string) error {
	f.publishes.Add(1)
	f.bus.mu.Lock()
	defer f.bus.mu.Unlock()
	for s := range f.bus.subs {
		if !s.down {
			s.events <- memEvent{kind: "changed", id: id}
		}
	}
	return nil
}

func (f *memFeed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	s := &memSub{events: make(chan memEvent, 1000)}
	f.bus.mu.Lock()
	f.bus.subs[s] = true
	f.bus.mu.Unlock()
	defer func() {
		f.bus.mu.Lock()
		delete(f.bus.subs, s)
		f.bus.mu.Unlock()
	}()
	h.Connected()
	f.subscribed <- s
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-s.events:
			switch e.kind {
			case "changed":
				h.Changed(e.id)
			case "down":
				h.Disconnected(errors.New("cut off"))
			case "up":
				h.Connected()
			}
			if e.done != nil {
				close(e.done)
			}
		}
	}
}

// set cuts s off (down) or brings it back, and returns once its handler
// has been told.
func (b *memBus) set(s *memSub, down bool) {
	e := memEvent{kind: "up", done: make(chan struct{})}
	if down {
		e.kind = "down"
	}
	b.mu.Lock()
	s.down = down
	s.events <- e
	b.mu.Unlock()
	<-e.done
}

// awaitRefused polls m until it refuses plain with want, or fails t.
func awaitRefused(t *testing.T, m *apikey.Manager, plain string, want error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := m.Verify(context.Background(), plain)
		if err != nil {
			require.ErrorIs(t, err, want)
			return
		}
		require.True(t, time.Now().Before(deadline), "still accepted after 5s")
		time.Sleep(time.Millisecond)
	}
}

func TestFeedInvalidatesOtherCaches(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock() // never advanced: only the feed can explain a refusal
	shared := apikey.NewMemoryStore()
	bus := newMemBus()
	var managers []*apikey.Manager
	var feeds []*memFeed
	for range 3 {
		f := bus.feed()
		cached := cache.New(shared, cache.WithFeed(f), cache.WithTTL(time.Hour), cache.WithClock(clock.Now))
		t.Cleanup(func() { cached.Close() })
		<-f.subscribed
		feeds = append(feeds, f)
		managers = append(managers, newManager(t, cached, apikey.WithClock(clock.Now)))
	}
	a := managers[0]
	type op struct {
		name string
		do   func(id string) error
		want error
	}
	ops := []op{
		{"disable", func(id string) error { _, err := a.Disable(ctx, id); return err }, apikey.ErrKeyDisabled},
		{"revoke", func(id string) error { return a.Revoke(ctx, id) }, apikey.ErrUnknownKey},
		{"rotate", func(id string) error { _, _, err := a.Rotate(ctx, id, 0); return err }, apikey.ErrKeyExpired},
		{"expire", func(id string) error {
			_, err := a.Update(ctx, id, apikey.SetExpiry(clock.Now().Add(-time.Second)))
			return err
		}, apikey.ErrKeyExpired},
	}
	for _, o := range ops {
		plain, k := mustCreate(t, a, apikey.NewKey{})
		for _, m := range managers {
			_, err := m.Verify(ctx, plain)
			require.NoError(t, err, o.name)
		}
		require.NoError(t, o.do(k.ID), o.name)
		for _, m := range managers[1:] {
			awaitRefused(t, m, plain, o.want)
		}
	}
	// A key that runs out of uses is published too, by the cache that
	// spent the last one.
	plain, _ := mustCreate(t, a, apikey.NewKey{MaxUses: 2})
	before := feeds[1].publishes.Load()
	_, err := managers[1].Verify(ctx, plain)
	require.NoError(t, err)
	require.Equal(t, before, feeds[1].publishes.Load(), "a use that leaves one is not published")
	_, err = managers[1].Verify(ctx, plain)
	require.NoError(t, err)
	require.Equal(t, before+1, feeds[1].publishes.Load(), "the last use is published")
}

// While the feed is down, entries live the fallback TTL at most; when it
// is back, the cache starts afresh.
func TestFeedDownFallsBackToShortTTL(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	shared := apikey.NewMemoryStore()
	bus := newMemBus()
	writer := newManager(t, shared, apikey.WithClock(clock.Now))
	f := bus.feed()
	cached := cache.New(shared, cache.WithFeed(f), cache.WithClock(clock.Now),
		cache.WithTTL(time.Hour), cache.WithFallbackTTL(2*time.Second))
	t.Cleanup(func() { cached.Close() })
	sub := <-f.subscribed
	m := newManager(t, cached, apikey.WithClock(clock.Now))
	verify := func(plain string) error { _, err := m.Verify(ctx, plain); return err }

	plain, k := mustCreate(t, writer, apikey.NewKey{})
	require.NoError(t, verify(plain))
	clock.Advance(30 * time.Minute)
	bus.set(sub, true)
	// Changes are no longer heard; the entry cached with an hour to live
	// now lives 2 s at most.
	_, err := writer.Disable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(2*time.Second - time.Microsecond)
	require.NoError(t, verify(plain), "the entry may live the fallback TTL")
	clock.Advance(time.Microsecond)
	require.ErrorIs(t, verify(plain), apikey.ErrKeyDisabled, "but no longer")

	// Entries filled while down get the fallback TTL too.
	_, err = writer.Enable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(2 * time.Second)
	require.NoError(t, verify(plain))
	_, err = writer.Disable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(2*time.Second - time.Microsecond)
	require.NoError(t, verify(plain))
	clock.Advance(time.Microsecond)
	require.ErrorIs(t, verify(plain), apikey.ErrKeyDisabled)

	// A change missed while down is honoured as soon as the feed is back.
	_, err = writer.Enable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(2 * time.Second)
	require.NoError(t, verify(plain))
	_, err = writer.Disable(ctx, k.ID)
	require.NoError(t, err)
	bus.set(sub, false)
	require.ErrorIs(t, verify(plain), apikey.ErrKeyDisabled, "reconnecting empties the cache")

	// And with the feed up, entries get the full TTL again.
	plain, k = mustCreate(t, writer, apikey.NewKey{})
	require.NoError(t, verify(plain))
	_, err = writer.Disable(ctx, k.ID) // not published: writer has no feed
	require.NoError(t, err)
	clock.Advance(59 * time.Minute)
	require.NoError(t, verify(plain), "up: the cache TTL applies")
	clock.Advance(time.Minute)
	require.ErrorIs(t, verify(plain), apikey.ErrKeyDisabled)
}

// failingFeed never connects: Subscribe fails at once, until healed.
type failingFeed struct {
	*memFeed
	healed atomic.Bool
	tries  atomic.Int64
}

func (f *failingFeed) Subscribe(ctx context.Context, h cache.FeedHandler) error {
	f.tries.Add(1)
	if !f.healed.Load() {
		return errors.New("no such server")
	}
	return f.memFeed.Subscribe(ctx, h)
}

// Until a feed first connects the cache keeps entries the fallback TTL,
// and a feed that cannot start is tried again.
func TestFeedNotYetConnected(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	shared := apikey.NewMemoryStore()
	writer := newManager(t, shared, apikey.WithClock(clock.Now))
	f := &failingFeed{memFeed: newMemBus().feed()}
	cached := cache.New(shared, cache.WithFeed(f), cache.WithClock(clock.Now),
		cache.WithTTL(time.Hour), cache.WithFallbackTTL(time.Second))
	t.Cleanup(func() { cached.Close() })
	m := newManager(t, cached, apikey.WithClock(clock.Now))

	plain, k := mustCreate(t, writer, apikey.NewKey{})
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)
	_, err = writer.Disable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(time.Second)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled, "the fallback TTL applies before the first connection")

	require.Eventually(t, func() bool { return f.tries.Load() >= 2 }, 5*time.Second, time.Millisecond, "Subscribe is tried again")
	f.healed.Store(true)
	select {
	case <-f.subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed never connected")
	}
}

// Close stops the feed's goroutines, and the cache then keeps entries the
// fallback TTL: nothing tells it of changes any more.
func TestCachedStoreCloseStopsFeed(t *testing.T) {
	before := feedtest.Goroutines()
	ctx := context.Background()
	clock := newFakeClock()
	shared := apikey.NewMemoryStore()
	writer := newManager(t, shared, apikey.WithClock(clock.Now))
	f := newMemBus().feed()
	cached := cache.New(shared, cache.WithFeed(f), cache.WithClock(clock.Now), cache.WithTTL(time.Hour))
	<-f.subscribed
	m := apikey.New(cached, apikey.WithClock(clock.Now), apikey.WithLastUsedInterval(0))
	plain, k := mustCreate(t, writer, apikey.NewKey{})
	_, err := m.Verify(ctx, plain)
	require.NoError(t, err)

	require.NoError(t, cached.Close())
	require.NoError(t, cached.Close(), "twice")
	feedtest.RequireNoNewGoroutines(t, before, 5*time.Second)

	_, err = writer.Disable(ctx, k.ID)
	require.NoError(t, err)
	clock.Advance(cache.DefaultFallbackTTL)
	_, err = m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrKeyDisabled)
	require.NoError(t, cache.New(shared).Close(), "without a feed")
}

func TestWithFallbackTTLPanicsOnMisconfiguration(t *testing.T) {
	s := apikey.NewMemoryStore()
	assert.Panics(t, func() { cache.New(s, cache.WithFallbackTTL(0)) })
	assert.Panics(t, func() { cache.New(s, cache.WithFallbackTTL(-time.Second)) })
}
