package cli

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/forwardauth"
	"github.com/go-apikey/apikey/internal/keyjson"
)

// options holds every flag of every command; each command registers the
// ones it takes on its own FlagSet.
type options struct {
	// shared by every command
	db    string
	table string
	redis string
	json  bool

	// create and update
	owner       string
	name        string
	description string
	prefix      string
	scopes      scopeList
	meta        metadata
	ttl         lifetime
	expiresAt   timestamp
	rateLimit   rateLimit
	allowedIPs  prefixList
	maxUses     int64
	// metering: create, update and owner set
	metering meteringOptions

	// update only
	enabled       bool
	remainingUses int64
	noScopes      bool
	noMetadata    bool
	noExpiry      bool
	noRateLimit   bool
	noAllowedIPs  bool
	noUsageLimit  bool

	// list
	limit       int
	after       string
	all         bool
	newestFirst bool

	// rotate
	grace lifetime

	// import
	format string
	shape  string
	// shapeRE is --shape compiled (import, serve).
	shapeRE *regexp.Regexp
	dryRun  bool

	// serve
	addr        string
	keyDir      string
	admin       bool
	forwardAuth string
	extAuthz    string
	uriHeader   string
	trusted     prefixList
	rules       ruleList

	// set records which flags the command line gave, to refuse
	// combinations such as --limit with --all.
	set map[string]bool
}

// checks reports whether serve answers gateways' checks.
func (o *options) checks() bool { return o.forwardAuth != "" || o.extAuthz != "" }

// ruleList is a repeatable flag of forwardauth rules,
// "[METHOD ]PATH=SCOPE[,SCOPE…]", checked as they are given.
type ruleList struct {
	text []string
	opts []forwardauth.Option
}

func (l *ruleList) String() string { return strings.Join(l.text, "; ") }

func (l *ruleList) Set(v string) error {
	opt, err := forwardauth.ParseRequire(v)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), apikey.ErrInvalidInput.Error()+": rule "+strconv.Quote(v)+": "))
	}
	l.text, l.opts = append(l.text, v), append(l.opts, opt)
	return nil
}

// scopeList is a repeatable flag whose values may also be comma separated:
// --scope a --scope b,c gives [a b c].
type scopeList []string

func (s *scopeList) String() string { return strings.Join(*s, ",") }

func (s *scopeList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// metadata is a repeatable key=value flag. A key given twice is refused
// rather than silently keeping one of the values.
type metadata map[string]string

func (m *metadata) String() string {
	if m == nil {
		return ""
	}
	var parts []string
	for k, v := range *m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (m *metadata) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	if *m == nil {
		*m = metadata{}
	}
	if _, dup := (*m)[k]; dup {
		return fmt.Errorf("key %q given twice", k)
	}
	(*m)[k] = val
	return nil
}

// lifetime is a duration flag that also takes whole days, such as 30d,
// since key lifetimes are counted in days far more often than in hours:
// the syntax of the admin API's ttl and grace (keyjson.ParseDuration).
type lifetime struct {
	d   time.Duration
	set bool
}

func (l *lifetime) String() string {
	if l == nil || !l.set {
		return ""
	}
	return l.d.String()
}

func (l *lifetime) Set(v string) error {
	d, err := keyjson.ParseDuration(v)
	if err != nil {
		return err
	}
	l.d, l.set = d, true
	return nil
}

// rateLimit is a LIMIT/WINDOW flag, such as 100/1m: at most LIMIT requests
// per WINDOW, the admin API's rate_limit {"limit": 100, "window": "1m"}.
// The Manager checks the values.
type rateLimit struct{ rl apikey.RateLimit }

func (r *rateLimit) String() string {
	if r == nil || r.rl.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d/%s", r.rl.Limit, r.rl.Window)
}

func (r *rateLimit) Set(v string) error {
	limit, window, ok := strings.Cut(v, "/")
	n, err := strconv.Atoi(limit)
	if !ok || err != nil {
		return errors.New("want LIMIT/WINDOW, such as 100/1m or 10000/1d")
	}
	d, err := keyjson.ParseDuration(window)
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	r.rl = apikey.RateLimit{Limit: n, Window: d}
	return nil
}

// prefixList is a repeatable flag of client address ranges, which may also
// be comma separated: CIDR ranges or single addresses, as the admin API's
// allowed_ips (keyjson.ParsePrefix).
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(*p))
	for i, pr := range *p {
		parts[i] = pr.String()
	}
	return strings.Join(parts, ",")
}

func (p *prefixList) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		pr, err := keyjson.ParsePrefix(part)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or a CIDR range such as 10.0.0.0/8", part)
		}
		if _, err := apikey.CanonicalPrefix(pr); err != nil {
			return fmt.Errorf("%q: %w", part, err)
		}
		*p = append(*p, pr)
	}
	return nil
}

// timestamp is an RFC 3339 time flag, such as 2026-01-31T00:00:00Z.
type timestamp struct{ t time.Time }

func (ts *timestamp) String() string {
	if ts == nil || ts.t.IsZero() {
		return ""
	}
	return ts.t.Format(time.RFC3339)
}

func (ts *timestamp) Set(v string) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return errors.New("want an RFC 3339 time such as 2026-01-31T00:00:00Z")
	}
	if t.IsZero() {
		// The zero time means "never expires" to the library: a typed
		// 0001-01-01 must not lift an expiry.
		return errors.New("the zero time means never; give --no-expiry for that")
	}
	ts.t = t
	return nil
}

// addShared registers the flags every command takes.
func addShared(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.db, "db", o.db, "database: postgres://… or mysql://… (or the driver's DSN), or a SQLite file (default $APIKEY_DB, else ./apikey.db)")
	fs.StringVar(&o.table, "table", o.table, "table holding the keys")
	fs.StringVar(&o.redis, "redis", o.redis, "Redis to announce changes on, for services following redisfeed (default $APIKEY_REDIS)")
	fs.BoolVar(&o.json, "json", o.json, "print JSON instead of text")
}

// parseInterleaved parses fs from args, allowing flags after positional
// arguments (apikey show ID --json), which flag.Parse alone stops at. Words
// after "--" are positional whatever they look like.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return append(positional, tail...), nil
}

// flagErrors rewrite the flag package's messages, which spell every flag
// -name, in the --name spelling the help uses.
var flagErrors = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`^flag provided but not defined: -(.*)$`), "unknown flag --$1"},
	{regexp.MustCompile(`^flag needs an argument: -(.*)$`), "--$1 needs a value"},
	{regexp.MustCompile(`^invalid boolean value ("(?:[^"\\]|\\.)*") for -(\S+): .*$`), "invalid value $1 for --$2: want true or false"},
	{regexp.MustCompile(`^invalid boolean flag (\S+): (.*)$`), "invalid value for --$1: $2"},
	{regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -(\S+): parse error$`), "invalid value $1 for --$2: want a whole number"},
	{regexp.MustCompile(`^invalid value ("(?:[^"\\]|\\.)*") for flag -(\S+): (.*)$`), "invalid value $1 for --$2: $3"},
}

// flagError returns err, an error of flag.FlagSet.Parse, as a usage error
// naming flags the way the help does.
func flagError(err error) error {
	msg := err.Error()
	for _, fe := range flagErrors {
		if fe.re.MatchString(msg) {
			msg = fe.re.ReplaceAllString(msg, fe.with)
			break
		}
	}
	return usageError{msg}
}
