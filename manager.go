package apikey

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Manager is the one place that decides whether a key is valid. It creates,
// verifies, disables, enables, rotates and revokes keys in a [Store], and
// serves them to HTTP through [Manager.Middleware]. It is safe for
// concurrent use.
//
// A Manager records when each key was last used without writing to the
// store on every request: uses are collected in memory and written in one
// batch per interval (see [WithLastUsedInterval]). Call [Manager.Close] on
// shutdown to write the last batch.
type Manager struct {
	store    Store
	prefix   string
	accepted []string // other prefixes Verify accepts
	hashers  []Hasher // hashers[0] makes new digests; all are tried to verify
	hashIDs  []string // hashers[i].ID(), read once
	now      func() time.Time
	logger   *slog.Logger
	usage    *usageRecorder

	// snapshots is the store when it can hand out its records without a
	// copy (the memory store), for the hot path.
	snapshots    *MemoryStore
	limiter      Limiter
	defaultLimit RateLimit
	static       map[[32]byte]*Key // by staticDigest
	staticKeys   []StaticKey       // as given; hashed in New
	observe      func(context.Context, Event)
	failures     failureLog
	ownerStore   OwnerStore // the store, when it keeps owner policies
	owners       owners

	// imported reports whether a credential of another shape may be an
	// imported key (WithImportedKeys); importHashers are the hashers its
	// digest is looked up under: plain SHA-256, then the Manager's.
	imported      func(string) bool
	importHashers []Hasher
	importIDs     []string

	chains chainMemo // where rotation chains end, for keys in grace

	warnAge, maxAge time.Duration // WithMaxKeyAge
	warnMu          sync.Mutex
	warned          map[string]time.Time // key ID -> last lifetime warning
	warnSweepAt     int                  // size of warned that triggers a sweep
}

// Option configures a Manager; see New.
type Option func(*Manager)

// WithPrefix sets the prefix of the keys the Manager issues and accepts
// (DefaultPrefix, "ak", otherwise). New panics if it fails ValidatePrefix.
func WithPrefix(prefix string) Option {
	return func(m *Manager) { m.prefix = prefix }
}

// WithAcceptedPrefixes makes the Manager also accept keys with these
// prefixes, besides its own: keys issued before a change of WithPrefix, or
// by a tool configured with another prefix. It panics in New if one fails
// ValidatePrefix. Accepting a prefix opens nothing: a key verifies only if
// its digest, which covers the whole key, prefix included, is stored.
func WithAcceptedPrefixes(prefixes ...string) Option {
	return func(m *Manager) { m.accepted = append(m.accepted, prefixes...) }
}

// WithHashers sets how digests are made: current makes the digest of every
// new key, and a key is looked up under current first, then under each
// older Hasher in order, so keys made before a change of secret keep
// working. Each extra Hasher costs one more store lookup for unknown keys.
// The default is SHA256 alone.
func WithHashers(current Hasher, older ...Hasher) Option {
	return func(m *Manager) { m.hashers = append([]Hasher{current}, older...) }
}

// WithClock sets the Manager's source of the current time, for tests.
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now = now }
}

// DefaultLastUsedInterval is how often a Manager writes last-used times.
const DefaultLastUsedInterval = 30 * time.Second

// WithLastUsedInterval sets how often last-used times are written to the
// store: at most one write per key per interval, whatever the request rate.
// LastUsedAt is then exact to within one interval: it is the first use of
// the key in the latest interval in which it was used. Zero or a negative
// interval turns last-used recording off.
func WithLastUsedInterval(d time.Duration) Option {
	return func(m *Manager) { m.usage.interval = d }
}

// WithLogger sets where the Manager logs failures: a failed last-used
// write, and every failure of the store, the rate limiter or the usage
// count that refuses requests with 503 (at Error level, the first at once,
// then one line per cause every 10 seconds at most, with the number of
// failures it stands for; Close logs those not logged yet). Logs never
// contain a key or a digest. The default is slog.Default(); a nil logger
// logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(m *Manager) { m.logger = l }
}

// WithLimiter sets the Limiter that counts requests for rate limits; the
// default is a NewMemoryLimiter, which counts per process.
func WithLimiter(l Limiter) Option {
	return func(m *Manager) { m.limiter = l }
}

// WithDefaultRateLimit applies a rate limit of limit requests per window to
// every key that has no RateLimit of its own. A request over it is refused
// with ErrRateLimited (429 with Retry-After from the middleware).
func WithDefaultRateLimit(limit int, window time.Duration) Option {
	return func(m *Manager) { m.defaultLimit = RateLimit{Limit: limit, Window: window} }
}

// WithMaxKeyAge sets a key's lifetime, counted from its creation. A key
// older than recommended still verifies, but the Manager logs a warning
// (once an hour per key, through WithLogger's logger) asking to rotate it;
// a key older than max is refused with ErrKeyTooOld. Zero turns either
// off. Static keys have no age.
func WithMaxKeyAge(recommended, max time.Duration) Option {
	return func(m *Manager) { m.warnAge, m.maxAge = recommended, max }
}

// WithStaticKeys adds keys given by configuration (see StaticKey and
// StaticKeysFromEnv). They are checked after the store, in the order given
// when two share a plaintext (the first wins). New hashes them and keeps
// no plaintext; it panics if one is invalid.
func WithStaticKeys(keys ...StaticKey) Option {
	return func(m *Manager) { m.staticKeys = append(m.staticKeys, keys...) }
}

// New returns a Manager for store. It panics if store is nil or an option
// is invalid (a bad prefix, a nil or duplicate Hasher), since that is a
// programming error found at start-up.
func New(store Store, opts ...Option) *Manager {
	if store == nil {
		panic("apikey: New called with a nil Store")
	}
	m := &Manager{
		store:   store,
		prefix:  DefaultPrefix,
		hashers: []Hasher{SHA256()},
		now:     time.Now,
		logger:  slog.Default(),
		usage:   &usageRecorder{interval: DefaultLastUsedInterval},
	}
	m.owners.every = DefaultOwnerRefresh
	for _, opt := range opts {
		opt(m)
	}
	for _, p := range append([]string{m.prefix}, m.accepted...) {
		if err := ValidatePrefix(p); err != nil {
			panic(err.Error())
		}
	}
	seen := map[string]bool{}
	for _, h := range m.hashers {
		if h == nil {
			panic("apikey: WithHashers given a nil Hasher")
		}
		if seen[h.ID()] {
			panic("apikey: WithHashers given two Hashers with ID " + h.ID())
		}
		seen[h.ID()] = true
		m.hashIDs = append(m.hashIDs, h.ID())
	}
	// An imported key is looked up first by the SHA-256 digest it was
	// imported with, then as the Manager's own keys are: once it has been
	// rehashed to the current Hasher, another replica whose cache dropped
	// its old digest finds it by the new one, which it has never looked
	// up, and so never cached as unknown.
	m.importHashers, m.importIDs = slices.Clone(m.hashers), slices.Clone(m.hashIDs)
	if !seen["sha256"] {
		m.importHashers = append([]Hasher{SHA256()}, m.importHashers...)
		m.importIDs = append([]string{"sha256"}, m.importIDs...)
	}
	if m.now == nil {
		panic("apikey: WithClock given a nil function")
	}
	if m.owners.every <= 0 {
		panic("apikey: WithOwnerRefresh needs a positive interval")
	}
	m.ownerStore, _ = store.(OwnerStore)
	if m.limiter == nil {
		m.limiter = NewMemoryLimiter()
	}
	if err := checkRateLimit(m.defaultLimit); err != nil {
		panic("apikey: WithDefaultRateLimit: " + err.Error())
	}
	if m.warnAge < 0 || m.maxAge < 0 {
		panic("apikey: WithMaxKeyAge given a negative duration")
	}
	ids := map[string]bool{}
	for _, sk := range m.staticKeys {
		if err := checkStaticKey(sk); err != nil {
			panic(err.Error())
		}
		if ids[sk.ID] {
			panic("apikey: WithStaticKeys given two keys with ID " + sk.ID)
		}
		ids[sk.ID] = true
		scopes, _ := CleanScopes(sk.Scopes)
		d := staticDigest(sk.Key)
		if m.static == nil {
			m.static = map[[32]byte]*Key{}
		}
		if _, dup := m.static[d]; !dup {
			m.static[d] = &Key{ID: sk.ID, Owner: sk.Owner, Name: sk.Name, Scopes: scopes,
				Enabled: true, RateLimit: sk.RateLimit, AllowedIPs: maskPrefixes(sk.AllowedIPs)}
		}
	}
	m.staticKeys = nil // the plaintexts are not kept
	if m.logger == nil {
		m.logger = slog.New(slog.DiscardHandler)
	}
	m.usage.store, m.usage.logger = store, m.logger
	// Only the memory store itself: a type embedding it to override
	// FindByDigest (a wrapper, a test spy) must be called through that.
	if ms, ok := store.(*MemoryStore); ok {
		m.snapshots = ms
	}
	return m
}

// Prefix returns the prefix of the keys the Manager issues.
func (m *Manager) Prefix() string { return m.prefix }

// clock returns the current time as every store can keep it: UTC, with
// microsecond precision and no monotonic reading.
func (m *Manager) clock() time.Time {
	return m.now().UTC().Truncate(time.Microsecond)
}

// Flush writes the last-used times collected so far to the store, in one
// call. Times it could not write are kept for the next flush.
func (m *Manager) Flush(ctx context.Context) error {
	return m.usage.flush(ctx)
}

// Close stops the background writer and flushes the last-used times it
// still holds. Keys still verify after Close; their uses are then written
// only by a later Flush or Close. Close is safe to call more than once.
func (m *Manager) Close() error {
	m.failures.flush(m.logger)
	m.stopOwnerRefresh()
	m.usage.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.usage.flush(ctx)
}
