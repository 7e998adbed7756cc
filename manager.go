package apikey

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
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
	if m.now == nil {
		panic("apikey: WithClock given a nil function")
	}
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

// now returns the current time as every store can keep it: UTC, with
// microsecond precision and no monotonic reading.
func (m *Manager) clock() time.Time {
	return m.now().UTC().Truncate(time.Microsecond)
}

// NewKey describes a key to create with [Manager.Create].
type NewKey struct {
	// Owner is required: the principal the key acts for.
	Owner string
	// Name is an optional short label.
	Name string
	// Description is optional free text.
	Description string
	// Scopes are the permissions granted; duplicates are dropped.
	Scopes []string
	// Metadata is optional string data kept with the key.
	Metadata map[string]string
	// ExpiresAt is when the key stops working; zero means never. It must be
	// in the future.
	ExpiresAt time.Time
	// RateLimit, when set, caps the key's requests per window instead of
	// the Manager's default.
	RateLimit RateLimit
	// AllowedIPs, when set, are the only client address ranges the key
	// works from. They are stored with their host bits cleared, and an
	// IPv4-mapped range as the IPv4 range it names (::ffff:192.0.2.0/120
	// as 192.0.2.0/24), since client addresses are compared unmapped (see
	// WithTrustedProxies). An invalid range, or a mapped one shorter than
	// /96, is ErrInvalidInput.
	AllowedIPs []netip.Prefix
	// MaxUses, when above zero, is how many requests the key may make in
	// all; zero means no limit.
	MaxUses int64
	// CreatedBy, when set, is the ID of the key whose holder asked for this
	// one (package admin sets the caller's); it is kept as Key.CreatedBy.
	CreatedBy string
}

// Limits on the fields of a NewKey.
const (
	maxOwnerLen       = 256
	maxNameLen        = 256
	maxDescriptionLen = 4096
	maxScopes         = 100
	maxScopeLen       = 128
	maxMetadata       = 64
	maxMetadataKeyLen = 128
	maxMetadataValLen = 1024
	maxAllowedIPs     = 100
)

// Create makes a new key and stores its digest. It returns the plaintext
// key, which exists nowhere else and cannot be recovered: show it to the
// user once. The returned Key is the stored record.
func (m *Manager) Create(ctx context.Context, nk NewKey) (string, Key, error) {
	now := m.clock()
	scopes, err := checkNewKey(&nk, now)
	if err != nil {
		return "", Key{}, err
	}
	return m.issue(ctx, m.prefix, Key{
		Owner:       nk.Owner,
		Name:        nk.Name,
		Description: nk.Description,
		Scopes:      scopes,
		Metadata:    maps.Clone(nk.Metadata),
		Enabled:     true,
		ExpiresAt:   nk.ExpiresAt.UTC().Truncate(time.Microsecond),
		RateLimit:   nk.RateLimit,
		AllowedIPs:  maskPrefixes(nk.AllowedIPs),
		RemainingUses: func() *int64 {
			if nk.MaxUses == 0 {
				return nil
			}
			return &nk.MaxUses
		}(),
		CreatedBy: nk.CreatedBy,
	}, now)
}

// issue gives k a fresh ID, a secret with the given (valid) prefix and a
// digest, and stores it.
func (m *Manager) issue(ctx context.Context, prefix string, k Key, now time.Time) (string, Key, error) {
	plain, err := generateKey(prefix)
	if err != nil {
		return "", Key{}, err
	}
	// The ID's time part comes from the real clock, not WithClock's: a
	// test clock set in the future would otherwise pin every later ID.
	if k.ID, err = newID(time.Now()); err != nil {
		return "", Key{}, err
	}
	k.Start = keyStart(plain)
	k.Hash = m.hashers[0].ID()
	k.Digest = m.hashers[0].Sum(nil, plain)
	k.CreatedAt, k.UpdatedAt = now, now
	if err := m.store.Create(ctx, k); err != nil {
		return "", Key{}, fmt.Errorf("apikey: storing new key: %w", err)
	}
	return plain, k.Clone(), nil
}

// maskPrefixes returns prefixes as normPrefix gives them, so 10.1.2.3/8
// is stored as the 10.0.0.0/8 it means, and ::ffff:192.0.2.0/120 as
// 192.0.2.0/24. checkPrefixes has refused those it cannot give.
func maskPrefixes(prefixes []netip.Prefix) []netip.Prefix {
	if len(prefixes) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		out[i], _ = normPrefix(p)
	}
	return out
}

func checkNewKey(nk *NewKey, now time.Time) ([]string, error) {
	if nk.Owner == "" {
		return nil, fmt.Errorf("%w: owner is required", ErrInvalidInput)
	}
	if err := checkText("owner", nk.Owner, maxOwnerLen, false); err != nil {
		return nil, err
	}
	if err := checkText("name", nk.Name, maxNameLen, false); err != nil {
		return nil, err
	}
	if err := checkText("description", nk.Description, maxDescriptionLen, true); err != nil {
		return nil, err
	}
	scopes, err := CleanScopes(nk.Scopes)
	if err != nil {
		return nil, err
	}
	if err := checkMetadata(nk.Metadata); err != nil {
		return nil, err
	}
	if err := checkRateLimit(nk.RateLimit); err != nil {
		return nil, err
	}
	if err := checkPrefixes(nk.AllowedIPs); err != nil {
		return nil, err
	}
	if nk.MaxUses < 0 {
		return nil, fmt.Errorf("%w: negative MaxUses", ErrInvalidInput)
	}
	if err := checkKeyRef("CreatedBy", nk.CreatedBy); err != nil {
		return nil, err
	}
	nk.ExpiresAt = nk.ExpiresAt.UTC().Truncate(time.Microsecond)
	nk.RateLimit.Window = nk.RateLimit.Window.Truncate(time.Microsecond)
	if !nk.ExpiresAt.IsZero() && !nk.ExpiresAt.After(now) {
		return nil, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalidInput, nk.ExpiresAt.Format(time.RFC3339))
	}
	return scopes, nil
}

// checkText refuses invalid UTF-8, control characters (but newlines and
// tabs where multiline is true) and text longer than max bytes.
func checkText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidInput, field, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidInput, field)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalidInput, field)
		}
	}
	return nil
}

// CleanScopes checks scopes and returns them without duplicates, in their
// first order. A scope is 1 to 128 printable characters with no spaces and
// no commas, such as "bots:read". It returns an error wrapping
// ErrInvalidInput for anything else.
func CleanScopes(scopes []string) ([]string, error) {
	if len(scopes) > maxScopes {
		return nil, fmt.Errorf("%w: at most %d scopes", ErrInvalidInput, maxScopes)
	}
	var out []string
	for _, s := range scopes {
		if s == "" || len(s) > maxScopeLen {
			return nil, fmt.Errorf("%w: scope %q must be 1 to %d bytes", ErrInvalidInput, s, maxScopeLen)
		}
		if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool {
			return r == ',' || unicode.IsSpace(r) || !unicode.IsPrint(r)
		}) >= 0 {
			return nil, fmt.Errorf("%w: scope %q must be printable, with no spaces or commas", ErrInvalidInput, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return slices.Clip(out), nil
}

// Verify checks a plaintext key and returns the principal it acts for. It
// refuses a malformed key (ErrMalformedKey) without asking the store; an
// unknown, disabled or expired key costs the same work, one digest and one
// store lookup, and fails with ErrUnknownKey, ErrKeyDisabled or
// ErrKeyExpired. With several Hashers (WithHashers), lookups stop at the
// first that finds the key, so an unknown key costs one per Hasher; a
// usage-limited key costs a second round trip, to spend the use. It then applies the key's policy: its
// maximum age, rate limit (ErrRateLimited) and remaining uses
// (ErrUsageExhausted). A store or limiter failure is reported as
// ErrStoreUnavailable wrapping the cause, never as an invalid key.
//
// Verify knows no client address, so it refuses keys with AllowedIPs
// (ErrIPNotAllowed); use VerifyFrom for those.
func (m *Manager) Verify(ctx context.Context, key string) (Principal, error) {
	p, _, err := m.verify(ctx, key, nil, nil, nil)
	return p, err
}

// VerifyFrom is Verify for a request from the client address client, which
// keys with AllowedIPs are checked against. The address is compared as
// the middleware compares a peer's: an IPv4-mapped address as the IPv4
// address it carries, and without its zone.
func (m *Manager) VerifyFrom(ctx context.Context, key string, client netip.Addr) (Principal, error) {
	p, _, err := m.verify(ctx, key, knownAddr(client), nil, nil)
	return p, err
}

// verify is the one decision path, shared by Verify, VerifyFrom and the
// middleware. It returns the rate-limit state for keys that have a limit.
// Digests are computed into buf when it is large enough (the middleware
// lends space in an allocation it makes anyway); match, when not nil, learns
// which digest found the key.
func (m *Manager) verify(ctx context.Context, key string, client *clientAddr, buf []byte, match *keyMatch) (Principal, LimitStatus, error) {
	if m.observe == nil {
		p, st, err := m.decide(ctx, key, client, buf, match)
		if err != nil {
			m.logFailure(ctx, err)
			return Principal{}, st, err
		}
		return p, st, nil
	}
	start := time.Now()
	p, st, err := m.decide(ctx, key, client, buf, match)
	m.observe(ctx, Event{KeyID: p.KeyID, Owner: p.Owner, Err: err, ClientIP: client.get(), Latency: time.Since(start)})
	if err != nil {
		m.logFailure(ctx, err)
		return Principal{}, st, err
	}
	return p, st, nil
}

// refused reports a decision made before any key was looked up, such as
// a request with no key, to the observer.
func (m *Manager) refused(ctx context.Context, err error, client *clientAddr) {
	if m.observe != nil {
		m.observe(ctx, Event{Err: err, ClientIP: client.get()})
	}
}

// decide finds the key, in the store and then among the static keys, and
// admits it or not. On refusal of a found key, the Principal still names it
// (for the observer). When match is not nil, decide records in it which
// digest found the key.
func (m *Manager) decide(ctx context.Context, key string, client *clientAddr, buf []byte, match *keyMatch) (Principal, LimitStatus, error) {
	// With static keys, every key pays for the static lookup, found in the
	// store or not, so that timing does not tell a stored key from an
	// unknown one.
	static := m.staticKey(key)
	shaped := m.hasAcceptedShape(key)
	if shaped {
		for i, h := range m.hashers {
			digest := h.Sum(buf[:0], key)
			if m.snapshots != nil {
				// The memory store's records are immutable: read in place.
				k, ok := m.snapshots.findSnapshot(digest)
				if !ok || k.Hash != m.hashIDs[i] || !equalDigests(k.Digest, digest) {
					continue
				}
				match.found(i, digest)
				return m.admit(ctx, k, client, true)
			}
			k, err := m.store.FindByDigest(ctx, digest)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return Principal{}, LimitStatus{}, unavailable("key lookup", err)
			}
			if k.Hash != m.hashIDs[i] || !equalDigests(k.Digest, digest) {
				continue
			}
			match.found(i, digest)
			return m.admit(ctx, &k, client, true)
		}
		if err := ctx.Err(); err != nil {
			return Principal{}, LimitStatus{}, unavailable("key lookup", err)
		}
	}
	if static != nil {
		match.found(staticMatch, nil)
		return m.admit(ctx, static, client, false)
	}
	if !shaped {
		return Principal{}, LimitStatus{}, ErrMalformedKey
	}
	return Principal{}, LimitStatus{}, ErrUnknownKey
}

// staticKey returns the static key whose plaintext is key, or nil.
func (m *Manager) staticKey(key string) *Key {
	if len(m.static) == 0 || len(key) > maxStaticKeyLen {
		return nil
	}
	return m.static[staticDigest(key)]
}

// keyMatch says how a request's key was found: which Hasher's digest found
// it in the store, or that it is a static key. It lets a nested middleware
// of the same Manager recognise the key without the request context keeping
// the key itself. The zero value (or a digest of another size than
// SHA-256's) recognises nothing, so the key is verified again.
type keyMatch struct {
	digest *[sha256.Size]byte // in the middleware's context allocation
	hasher int                // index in Manager.hashers, or staticMatch
}

const staticMatch = -1

// found records, unless match is nil, that the digest made by hashers[i]
// (or staticMatch) found the key.
func (match *keyMatch) found(i int, digest []byte) {
	if match == nil {
		return
	}
	match.hasher = i
	if len(digest) == sha256.Size {
		match.digest = (*[sha256.Size]byte)(digest)
	}
}

// sameKey reports whether key is the key that match records this Manager
// found for principal p.
func (m *Manager) sameKey(key string, p *Principal, match *keyMatch) bool {
	switch {
	case match.hasher == staticMatch:
		k := m.staticKey(key)
		return k != nil && k.ID == p.KeyID
	case match.digest == nil || match.hasher < 0 || match.hasher >= len(m.hashers):
		return false
	}
	var buf [sha256.Size]byte
	return equalDigests(m.hashers[match.hasher].Sum(buf[:0], key), match.digest[:])
}

// admit applies a found key's policy, in an order that spends nothing on a
// request that will be refused: state, age, client address, rate limit,
// and last the remaining uses (a rate-limited request spends no use).
func (m *Manager) admit(ctx context.Context, k *Key, client *clientAddr, stored bool) (Principal, LimitStatus, error) {
	p := principalOf(k)
	if !k.Enabled {
		return p, LimitStatus{}, ErrKeyDisabled
	}
	// Reading the clock costs more than the rest of a cache hit on some
	// machines: read it only for keys and settings that need it.
	var now time.Time
	if !k.ExpiresAt.IsZero() {
		if now = m.clock(); k.Expired(now) {
			return p, LimitStatus{}, ErrKeyExpired
		}
	}
	if (m.maxAge > 0 || m.warnAge > 0) && !k.CreatedAt.IsZero() {
		if now.IsZero() {
			now = m.clock()
		}
		age := now.Sub(k.CreatedAt)
		if m.maxAge > 0 && age > m.maxAge {
			return p, LimitStatus{}, ErrKeyTooOld
		}
		if m.warnAge > 0 && age > m.warnAge {
			m.warnOld(k, age, now)
		}
	}
	if len(k.AllowedIPs) > 0 {
		if a := client.get(); !a.IsValid() || !inPrefixes(a, k.AllowedIPs) {
			return p, LimitStatus{}, ErrIPNotAllowed
		}
	}
	var st LimitStatus
	limit := k.RateLimit
	if limit.IsZero() {
		limit = m.defaultLimit
	}
	if !limit.IsZero() {
		if now.IsZero() {
			now = m.clock()
		}
		var err error
		if st, err = m.limiter.Allow(ctx, k.ID, limit, now); err != nil {
			return p, LimitStatus{}, unavailable("rate limiter", err)
		}
		if !st.Allowed {
			return p, st, &RateLimitError{Status: st}
		}
	}
	if k.RemainingUses != nil && stored {
		us, ok := m.store.(UsageStore)
		if !ok {
			return p, st, unavailable("usage count", fmt.Errorf("%T cannot count key uses", m.store))
		}
		if now.IsZero() {
			now = m.clock()
		}
		// The store has the last word: the key found may be a cached copy
		// of one since disabled, rotated or expired.
		switch _, err := us.SpendUse(ctx, k.ID, now); {
		case errors.Is(err, ErrUsageExhausted):
			return p, st, ErrUsageExhausted
		case errors.Is(err, ErrKeyDisabled):
			return p, st, ErrKeyDisabled
		case errors.Is(err, ErrKeyExpired):
			return p, st, ErrKeyExpired
		case errors.Is(err, ErrNotFound):
			return p, st, ErrUnknownKey // revoked since it was found
		case err != nil:
			return p, st, unavailable("usage count", err)
		}
	}
	if stored {
		m.usage.record(k.ID, m.clock)
	}
	return p, st, nil
}

// lifetimeWarnEvery is how often the same old key is logged.
const lifetimeWarnEvery = time.Hour

// warnOld logs that a key is past its recommended lifetime, at most once
// per key per lifetimeWarnEvery.
func (m *Manager) warnOld(k *Key, age time.Duration, now time.Time) {
	m.warnMu.Lock()
	last, seen := m.warned[k.ID]
	if seen && now.Sub(last) < lifetimeWarnEvery {
		m.warnMu.Unlock()
		return
	}
	if m.warned == nil {
		m.warned = map[string]time.Time{}
	}
	if len(m.warned) >= max(m.warnSweepAt, 10_000) {
		// Keep the map as small as the set of old keys in use: entries
		// older than the interval no longer suppress anything. The next
		// sweep waits until the map has doubled, so that many old keys
		// in use do not make every warning scan them all.
		for id, t := range m.warned {
			if now.Sub(t) >= lifetimeWarnEvery {
				delete(m.warned, id)
			}
		}
		m.warnSweepAt = 2 * len(m.warned)
	}
	m.warned[k.ID] = now
	m.warnMu.Unlock()
	m.logger.Warn("apikey: key is older than its recommended lifetime; rotate it",
		"key_id", k.ID, "owner", k.Owner, "name", k.Name,
		"age", age.Round(time.Second).String(), "recommended", m.warnAge.String())
}

// rotationPrefix is the prefix Rotate gives the successor of old.
func (m *Manager) rotationPrefix(old Key) string {
	p := old.Prefix()
	if p == "" || p == m.prefix || slices.Contains(m.accepted, p) {
		return m.prefix
	}
	return p
}

// hasAcceptedShape reports whether key is well formed with the Manager's
// prefix or one of its accepted prefixes.
func (m *Manager) hasAcceptedShape(key string) bool {
	if hasValidShape(key, m.prefix) {
		return true
	}
	for _, p := range m.accepted {
		if hasValidShape(key, p) {
			return true
		}
	}
	return false
}

// Get returns the key with the given ID, or an error wrapping ErrNotFound.
func (m *Manager) Get(ctx context.Context, id string) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	k, err := m.store.Get(ctx, id)
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}

// Page is one page of keys from [Manager.List].
type Page struct {
	// Keys are copies the caller owns, in ascending ID order.
	Keys []Key
	// Next is the cursor for the following page (ListOptions.After), or ""
	// when this is the last page.
	Next string
}

// List returns a page of keys in creation order, optionally of one owner.
func (m *Manager) List(ctx context.Context, opts ListOptions) (Page, error) {
	switch {
	case opts.Limit < 0:
		return Page{}, fmt.Errorf("%w: negative list limit", ErrInvalidInput)
	case opts.Limit == 0:
		opts.Limit = DefaultListLimit
	case opts.Limit > MaxListLimit:
		opts.Limit = MaxListLimit
	}
	if err := checkText("owner", opts.Owner, maxOwnerLen, false); err != nil {
		return Page{}, err
	}
	if err := checkText("cursor", opts.After, 64, false); err != nil {
		return Page{}, err
	}
	limit := opts.Limit
	opts.Limit++ // one more tells whether there is a next page
	keys, err := m.store.List(ctx, opts)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(keys) > limit {
		keys = keys[:limit]
		page.Next = keys[limit-1].ID
	}
	page.Keys = make([]Key, len(keys))
	for i, k := range keys {
		page.Keys[i] = k.Clone()
	}
	return page, nil
}

// Disable refuses the key from now on, without deleting it; Enable undoes
// it. Disabling a disabled key is not an error. It is an operator's
// disable: it clears Key.DisabledBy, so no key's holder can undo it
// through package admin, even when one had disabled the key before.
func (m *Manager) Disable(ctx context.Context, id string) (Key, error) {
	return m.setEnabled(ctx, id, false)
}

// Enable lets a disabled key verify again (unless it has expired).
func (m *Manager) Enable(ctx context.Context, id string) (Key, error) {
	return m.setEnabled(ctx, id, true)
}

func (m *Manager) setEnabled(ctx context.Context, id string, enabled bool) (Key, error) {
	if err := checkID(id); err != nil {
		return Key{}, err
	}
	k, err := m.store.Update(ctx, id, func(k *Key) error {
		if k.Enabled != enabled || k.DisabledBy != "" {
			k.Enabled = enabled
			k.DisabledBy = "" // an operator's disable, or none
			k.UpdatedAt = m.clock()
		}
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return k.Clone(), nil
}

// Revoke deletes the key for good: it stops verifying at once and cannot be
// enabled again. It returns an error wrapping ErrNotFound if there is no
// such key.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	return m.store.Delete(ctx, id)
}

// Rotate issues a new key with the same owner, name, description, scopes,
// metadata, expiry, policy and enabled state as the key with the given ID,
// and makes the old key expire after grace (at once when grace is zero,
// never later than it would have). It returns the new plaintext key, shown
// once, and the new record; the old record's RotatedTo names the new one.
//
// The new key has the Manager's prefix when the old one has it or one of
// WithAcceptedPrefixes, so rotation moves clients off a retired prefix. A
// key with any other prefix keeps it: a tool such as apikey serve, which
// manages the keys of services configured with other prefixes, must not
// hand out keys those services refuse.
//
// A key is rotated once: rotating it again, or while another process
// rotates or changes it, fails with ErrConflict and changes nothing. An
// expired key cannot be rotated (ErrKeyExpired).
//
// A usage-limited key's remaining uses move to the new key, never copied:
// they are taken from the old key under the store's lock on it, so uses
// spent while the rotation runs are counted once, and a key in steady use
// can be rotated. The old key spends nothing once rotated (see
// UsageStore), so a replica whose cache still holds it cannot spend the
// budget a second time. Such a key must therefore be rotated with no grace
// (ErrInvalidInput otherwise).
//
// changes, if any, apply to the new key's record before it is stored, so
// that it is never stored without them (package admin records who asked
// for the rotation with SetCreatedBy). They cannot set the new key's usage
// limit, which is always the old key's, with the uses moved from it.
func (m *Manager) Rotate(ctx context.Context, id string, grace time.Duration, changes ...KeyChange) (string, Key, error) {
	if grace < 0 {
		return "", Key{}, fmt.Errorf("%w: negative grace period", ErrInvalidInput)
	}
	if err := checkID(id); err != nil {
		return "", Key{}, err
	}
	if err := checkChanges(changes); err != nil {
		return "", Key{}, err
	}
	for _, c := range changes {
		if c.check != nil {
			return "", Key{}, fmt.Errorf("%w: a conditional change cannot apply to a new key", ErrInvalidInput)
		}
	}
	old, err := m.store.Get(ctx, id)
	if err != nil {
		return "", Key{}, err
	}
	now := m.clock()
	limited := old.RemainingUses != nil
	switch {
	case old.Expired(now):
		return "", Key{}, fmt.Errorf("%w: key %s", ErrKeyExpired, id)
	case old.RotatedTo != "":
		return "", Key{}, fmt.Errorf("%w: key %s was already rotated to %s", ErrConflict, id, old.RotatedTo)
	case limited && grace > 0:
		return "", Key{}, fmt.Errorf("%w: key %s has a usage limit; rotate it with no grace period", ErrInvalidInput, id)
	}
	next := Key{
		Owner:       old.Owner,
		Name:        old.Name,
		Description: old.Description,
		Scopes:      slices.Clone(old.Scopes),
		Metadata:    maps.Clone(old.Metadata),
		Enabled:     old.Enabled,
		ExpiresAt:   old.ExpiresAt,
		RateLimit:   old.RateLimit,
		AllowedIPs:  slices.Clone(old.AllowedIPs),
	}
	for _, c := range changes {
		c.apply(&next)
	}
	if limited {
		// Nothing to spend until the uses move over, below; nobody holds
		// the new key before Rotate returns.
		next.RemainingUses = new(int64)
	} else {
		next.RemainingUses = nil
	}
	plain, next, err := m.issue(ctx, m.rotationPrefix(old), next, now)
	if err != nil {
		return "", Key{}, err
	}
	end := now.Add(grace).Truncate(time.Microsecond)
	var moved *int64 // the old key's uses, read under the store's lock
	_, err = m.store.Update(ctx, id, func(k *Key) error {
		// The new key copied old: if the key changed since (disabled,
		// edited, rotated elsewhere), the copy is stale and must not go
		// live. Uses spent meanwhile are no change: they move below.
		if k.RotatedTo != "" || k.Enabled != old.Enabled || !k.ExpiresAt.Equal(old.ExpiresAt) ||
			!k.UpdatedAt.Equal(old.UpdatedAt) || (k.RemainingUses != nil) != limited {
			return fmt.Errorf("%w: key %s changed while it was rotated", ErrConflict, id)
		}
		if k.ExpiresAt.IsZero() || end.Before(k.ExpiresAt) {
			k.ExpiresAt = end
		}
		if limited {
			n := *k.RemainingUses
			moved, k.RemainingUses = &n, new(int64)
		}
		k.RotatedTo = next.ID
		k.UpdatedAt = now
		return nil
	})
	if err == nil && moved != nil {
		next, err = m.moveUses(ctx, id, old, next, *moved)
	}
	if err != nil {
		// The old key was not retired: take the new key back rather than
		// leave two live keys.
		if derr := m.store.Delete(context.WithoutCancel(ctx), next.ID); derr != nil {
			return "", Key{}, fmt.Errorf("apikey: rotating %s: %w (and removing the new key %s: %v)", id, err, next.ID, derr)
		}
		return "", Key{}, fmt.Errorf("apikey: rotating %s: %w", id, err)
	}
	return plain, next.Clone(), nil
}

// moveUses gives the new key of a rotation the n uses taken from the old
// one. If that fails, the old key gets its uses, expiry and successor
// back, so that no budget is lost, and the error is returned.
func (m *Manager) moveUses(ctx context.Context, id string, old, next Key, n int64) (Key, error) {
	moved, err := m.store.Update(ctx, next.ID, func(k *Key) error {
		k.RemainingUses = &n
		return nil
	})
	if err == nil {
		return moved, nil
	}
	_, rerr := m.store.Update(context.WithoutCancel(ctx), id, func(k *Key) error {
		if k.RotatedTo != next.ID {
			return fmt.Errorf("%w: key %s changed while its rotation was undone", ErrConflict, id)
		}
		k.RotatedTo, k.ExpiresAt, k.UpdatedAt = "", old.ExpiresAt, old.UpdatedAt
		k.RemainingUses = &n
		return nil
	})
	if rerr != nil {
		return next, fmt.Errorf("%w (and giving key %s its %d uses back: %v)", err, id, n, rerr)
	}
	return next, err
}

// checkID answers ErrNotFound for an ID no store could hold (not 1 to 64
// bytes of UTF-8 without control characters), so stores only ever see
// well-formed IDs: SQL databases reject some byte sequences with errors of
// their own, which would read as a store failure. An ID that holds a key
// is refused first, without a word of it: the error would carry the key
// (stores name the ID they did not find) into logs and terminals.
func checkID(id string) error {
	if LooksLikeKey(id) || mostlyKey(id) {
		return fmt.Errorf("%w: that looks like a key, not an ID", ErrNotFound)
	}
	if id == "" || len(id) > 64 || checkText("id", id, 64, false) != nil {
		return fmt.Errorf("%w: ID %q", ErrNotFound, id)
	}
	return nil
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
	m.usage.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.usage.flush(ctx)
}

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
// one interval (as django-rest-knox does).
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
