package apikey

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"time"
)

// Key format: <prefix>_<secret><checksum>, where secret is secretLen base62
// characters and checksum is the CRC-32 (IEEE) of "<prefix>_<secret>" as
// checksumLen base62 digits, zero padded. Base62 has no '_', so the last '_'
// always separates the prefix from the body.
const (
	secretLen   = 30 // 30 * log2(62) ≈ 178 bits
	checksumLen = 6  // 62^6 > 2^32
	bodyLen     = secretLen + checksumLen
	startLen    = 4 // secret characters kept in Key.Start
	// MaxPrefixLen is the longest prefix WithPrefix accepts.
	MaxPrefixLen = 32
	// maxKeyLen bounds every key this package can issue; longer input is
	// refused before any hashing.
	maxKeyLen = MaxPrefixLen + 1 + bodyLen
)

// idGenerator remembers the last ID it issued, so it can keep IDs
// increasing.
type idGenerator struct {
	mu   sync.Mutex
	ms   uint64
	last [16]byte
	set  bool
}

// ids issues every key ID in this process.
var ids idGenerator

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// DefaultPrefix is the key prefix used when no WithPrefix option is given.
const DefaultPrefix = "ak"

// ValidatePrefix reports whether prefix can be used for keys: 1 to
// MaxPrefixLen ASCII letters, digits and underscores, starting with a letter
// and not ending with an underscore (for example "ak", "lbk", "sk_live").
func ValidatePrefix(prefix string) error {
	if len(prefix) == 0 || len(prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: prefix must be 1 to %d characters", ErrInvalidInput, MaxPrefixLen)
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case (c >= '0' && c <= '9' || c == '_') && i > 0:
		default:
			return fmt.Errorf("%w: prefix %q must start with a letter and hold only letters, digits and '_'", ErrInvalidInput, prefix)
		}
	}
	if prefix[len(prefix)-1] == '_' {
		return fmt.Errorf("%w: prefix %q must not end with '_'", ErrInvalidInput, prefix)
	}
	return nil
}

// generateKey returns a new plaintext key with the given (valid) prefix.
func generateKey(prefix string) (string, error) {
	var b strings.Builder
	b.Grow(len(prefix) + 1 + bodyLen)
	b.WriteString(prefix)
	b.WriteByte('_')
	var buf [64]byte
	n := 0
	for n < secretLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("apikey: reading random bytes: %w", err)
		}
		for _, c := range buf {
			// Rejection sampling keeps every character equally likely:
			// 248 = 4*62, so c%62 is uniform for c < 248.
			if c >= 248 {
				continue
			}
			b.WriteByte(base62[c%62])
			if n++; n == secretLen {
				break
			}
		}
	}
	appendChecksum(&b, checksum(b.String()))
	return b.String(), nil
}

func appendChecksum(b *strings.Builder, sum uint32) {
	var digits [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		digits[i] = base62[sum%62]
		sum /= 62
	}
	b.Write(digits[:])
}

// checksum is CRC-32 (IEEE) of s, the checksum GitHub's tokens carry. It
// works on the string directly, eight bytes a step (slicing-by-8), so the
// hot path neither allocates nor walks the input byte by byte.
func checksum(s string) uint32 {
	crc := ^uint32(0)
	for len(s) >= 8 {
		crc ^= uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		crc = crcTables[0][s[7]] ^ crcTables[1][s[6]] ^ crcTables[2][s[5]] ^ crcTables[3][s[4]] ^
			crcTables[4][crc>>24] ^ crcTables[5][(crc>>16)&0xFF] ^ crcTables[6][(crc>>8)&0xFF] ^ crcTables[7][crc&0xFF]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		crc = crcTables[0][byte(crc)^s[i]] ^ (crc >> 8)
	}
	return ^crc
}

// crcTables[k][b] is the CRC of byte b followed by k zero bytes.
var crcTables = func() (t [8][256]uint32) {
	t[0] = *crc32.IEEETable
	for i := range 256 {
		c := t[0][i]
		for k := 1; k < 8; k++ {
			c = t[0][c&0xFF] ^ c>>8
			t[k][i] = c
		}
	}
	return t
}()

// base62Values maps each byte to its base62 value, or -1.
var base62Values = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(base62) {
		t[base62[i]] = int8(i)
	}
	return t
}()

// ParseKey checks the shape of a plaintext key: its prefix, its characters
// and its checksum, without asking any store. It returns the key's prefix,
// or an error wrapping ErrMalformedKey. A key that parses may still be
// unknown, disabled or expired; only [Manager.Verify] can tell.
func ParseKey(key string) (prefix string, err error) {
	if len(key) > maxKeyLen || len(key) < 2+bodyLen {
		return "", ErrMalformedKey
	}
	sep := len(key) - bodyLen - 1
	prefix = key[:sep]
	if key[sep] != '_' || ValidatePrefix(prefix) != nil || !validBody(key, sep) {
		return "", ErrMalformedKey
	}
	return prefix, nil
}

// LooksLikeKey reports whether s holds a key: an underscore followed by 36
// base62 characters whose last 6 are the checksum of what comes before
// them, from some start at most MaxPrefixLen bytes before the underscore.
// Unlike ParseKey it takes any prefix, even one ValidatePrefix refuses
// (9x_…, sk-live_…), and finds a key with text around it (a pasted
// newline, "Bearer " in front), since each of those still carries the
// secret. A string without a key passes by chance with odds of about one
// in 2^32 per underscore.
//
// It is for code that prints what it was given where an ID, a name or a
// path belongs: a person who pastes a key there must not see it echoed in
// an error, a log line or a response. Say that the value looks like a key,
// as the Manager's methods that take an ID do, and print nothing of it.
func LooksLikeKey(s string) bool {
	for sep := 0; sep+bodyLen < len(s); sep++ {
		if s[sep] != '_' || !validBase62(s[sep+1:sep+1+bodyLen]) {
			continue
		}
		end := sep + 1 + bodyLen
		for start := max(0, sep-MaxPrefixLen); start <= sep; start++ {
			if validBody(s[start:end], sep-start) {
				return true
			}
		}
	}
	return false
}

// ResemblesKey reports whether s holds most of a key, with or without its
// checksum: an underscore followed by 30 or more base62 characters, a
// prefix's separator and at least a secret's length. A key with a
// character mistyped, dropped or added resembles a key though LooksLikeKey
// says no, and must not be printed either: its checksum lets anyone find
// the real key from it with a few thousand tries. Names, IDs and paths
// rarely hold such a run; use it for values that are not free text.
func ResemblesKey(s string) bool { return keyRun(s, secretLen, 0) }

// partOfKey is the rule for values that must be key IDs, which never hold
// an underscore and are 26 characters long: an underscore followed by 16
// or more base62 characters (a good part of a secret), or 27 in a row (a
// piece of a key too long to be an ID).
func partOfKey(s string) bool { return keyRun(s, 16, 27) }

// keyRun reports whether s holds an underscore followed by at least
// minAfter base62 characters, or minBare of them in a row (0: no limit).
func keyRun(s string, minAfter, minBare int) bool {
	run := 0 // base62 characters in a row, ending at s[i]
	for i := 0; i < len(s); i++ {
		if base62Values[s[i]] < 0 {
			run = 0
			continue
		}
		run++
		if minBare > 0 && run >= minBare || run >= minAfter && i >= run && s[i-run] == '_' {
			return true
		}
	}
	return false
}

func validBase62(s string) bool {
	for _, c := range []byte(s) {
		if base62Values[c] < 0 {
			return false
		}
	}
	return true
}

// hasValidShape is ParseKey for a known, valid prefix: what Verify runs on
// every request.
func hasValidShape(key, prefix string) bool {
	sep := len(prefix)
	return len(key) == sep+1+bodyLen && key[sep] == '_' && key[:sep] == prefix && validBody(key, sep)
}

// validBody reports whether key[sep+1:] is base62 and ends with the
// checksum of key[:len(key)-checksumLen].
func validBody(key string, sep int) bool {
	if len(key) < sep+1+bodyLen {
		return false
	}
	end := len(key) - checksumLen
	// OR the table values together: any -1 sets the sign bit. No branch per
	// character; this runs on every request.
	var bad int8
	for _, c := range []byte(key[sep+1 : end]) {
		bad |= base62Values[c]
	}
	if bad < 0 {
		return false
	}
	var sum uint64
	for _, c := range []byte(key[end:]) {
		v := base62Values[c]
		if v < 0 {
			return false
		}
		sum = sum*62 + uint64(v)
	}
	return sum <= 0xFFFFFFFF && uint32(sum) == checksum(key[:end])
}

// keyStart is the display form of a key: its prefix and a few characters.
func keyStart(key string) string {
	sep := len(key) - bodyLen - 1
	return key[:sep+1+startLen]
}

// newID returns a 26 character ID: 48 bits of milliseconds since the Unix
// epoch and 80 random bits, in Crockford base32 (the ULID layout), so IDs
// sort in creation order and reveal nothing about the secret. Within one
// process IDs strictly increase: in the same millisecond (or if the clock
// steps back) the random part of the last ID is incremented instead.
func newID(now time.Time) (string, error) { return ids.next(now) }

func (ids *idGenerator) next(now time.Time) (string, error) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	var raw [16]byte
	ms := uint64(now.UnixMilli()) & (1<<48 - 1)
	if ms <= ids.ms && ids.set {
		ms = ids.ms
		raw = ids.last
		// Increment the 80-bit random tail; carrying out of it would wrap
		// into the time, which 2^80 IDs in one millisecond never reach.
		for i := 15; i >= 6; i-- {
			if raw[i]++; raw[i] != 0 {
				break
			}
		}
	} else {
		binary.BigEndian.PutUint64(raw[:8], ms<<16)
		if _, err := rand.Read(raw[6:]); err != nil {
			return "", fmt.Errorf("apikey: reading random bytes: %w", err)
		}
	}
	ids.ms, ids.last, ids.set = ms, raw, true
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 128 bits as 26 base32 digits: the first digit holds the top 3 bits.
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:]), nil
}
