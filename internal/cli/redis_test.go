package cli

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/feedtest"
	"github.com/go-apikey/apikey/redisfeed"
)

// heard collects what a redisfeed subscriber hears.
type heard struct {
	mu        sync.Mutex
	connected chan struct{}
	once      sync.Once
	ids       map[string]bool
}

func (h *heard) Connected()         { h.once.Do(func() { close(h.connected) }) }
func (h *heard) Disconnected(error) {}
func (h *heard) Changed(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids[id] = true
}

func (h *heard) forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ids)
}

func (h *heard) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ids[id]
}

// With --redis or APIKEY_REDIS, every change the command makes is announced
// on the channel services following redisfeed listen to.
func TestRedisAnnouncesChanges(t *testing.T) {
	addr := feedtest.DSN(t, feedtest.EnvRedis)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	h := &heard{connected: make(chan struct{}), ids: map[string]bool{}}
	done := make(chan error, 1)
	go func() { done <- redisfeed.New(rdb).Subscribe(ctx, h) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-h.connected:
	case <-time.After(5 * time.Second):
		t.Fatalf("no subscription to Redis at %s", addr)
	}

	c := newEnv(t)
	k := c.create("--owner", "alice")
	c.ok("disable", k.ID, "--redis", addr)
	require.Eventually(t, func() bool { return h.has(k.ID) }, 2*time.Second, 5*time.Millisecond, "disable was announced")

	c.env = map[string]string{"APIKEY_REDIS": "redis://" + addr + "/0"}
	var next issued
	h.forget()
	c.ok("enable", k.ID)
	require.Eventually(t, func() bool { return h.has(k.ID) }, 2*time.Second, 5*time.Millisecond)
	out := c.ok("rotate", k.ID, "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &next), out)
	c.ok("revoke", next.ID)
	require.Eventually(t, func() bool { return h.has(next.ID) }, 2*time.Second, 5*time.Millisecond, "revoke was announced")
}

// A Redis that does not answer loses no change: the database has it, and
// the command says services on redisfeed see it only within their TTL, in
// one line of stderr: none of the Redis client's own log lines, which
// would bury it. That client logs to the process's stderr, past Run's
// writers, so the command runs as a process here.
func TestRedisDownStillSaves(t *testing.T) {
	c := newEnv(t)
	k := c.create("--owner", "alice")
	r := runProcess(t, nil, "disable", k.ID, "--db", c.db, "--redis", "127.0.0.1:1")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.True(t, strings.HasPrefix(r.stderr, "apikey: warning: the change is saved, but Redis at 127.0.0.1:1 did not hear of it ("), r.stderr)
	assert.True(t, strings.HasSuffix(r.stderr, "); services following redisfeed see it within their cache TTL\n"), r.stderr)
	_, err := c.verify(k.Plaintext)
	assert.ErrorIs(t, err, apikey.ErrKeyDisabled)

	r = c.run("disable", k.ID, "--redis", "not an address")
	assert.Equal(t, ExitFailed, r.code)
	assert.Contains(t, r.stderr, "want redis://host:port/db or host:port")
}
