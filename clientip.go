package apikey

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// WithTrustedProxies names the proxies (load balancers, ingress) whose
// X-Forwarded-For and X-Real-IP headers the middleware believes when it
// works out the client address for keys with AllowedIPs. A request from any
// other peer is judged by its own address, whatever headers it sends: a
// client cannot spoof its way into an allow-list.
//
// X-Forwarded-For is read right to left, skipping trusted hops, and the
// first untrusted address is the client; X-Real-IP is used only when there
// is no X-Forwarded-For. An unparsable address makes the client unknown, and
// keys with AllowedIPs then refuse the request.
//
// Every address is compared in one form, whether it is the peer, a
// forwarded hop, X-Real-IP or the address given to VerifyFrom: an
// IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address it
// carries, and a zone (fe80::1%eth0) is dropped, since no prefix can name
// one; fe80::1 is therefore the same client on every interface. Prefixes
// are read the same way, here and in AllowedIPs: an IPv4-mapped prefix
// such as ::ffff:10.0.0.0/104 is the IPv4 prefix it names, 10.0.0.0/8.
// A mapped prefix shorter than /96 spans IPv4-mapped and other IPv6
// addresses and names no IPv4 range; Middleware panics on one, as on an
// invalid prefix.
func WithTrustedProxies(proxies ...netip.Prefix) MiddlewareOption {
	return func(c *middlewareConfig) {
		for _, p := range proxies {
			n, err := normPrefix(p)
			if err != nil {
				panic("apikey: WithTrustedProxies: " + err.Error())
			}
			c.trusted = append(c.trusted, n)
		}
	}
}

// clientAddr resolves a request's client address on first use: most keys
// have no allow-list and never pay for it.
type clientAddr struct {
	r        *http.Request
	trusted  []netip.Prefix
	addr     netip.Addr
	resolved bool
}

// get returns the client address, or the zero Addr when it is unknown.
func (c *clientAddr) get() netip.Addr {
	if c == nil {
		return netip.Addr{}
	}
	if !c.resolved {
		c.addr, c.resolved = clientIP(c.r, c.trusted), true
	}
	return c.addr
}

// knownAddr wraps an address that is already known, for VerifyFrom.
func knownAddr(a netip.Addr) *clientAddr {
	return &clientAddr{addr: normAddr(a), resolved: true}
}

func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := parseAddr(strings.TrimSpace(hops[i]))
			if !hop.IsValid() {
				return netip.Addr{} // garbage in the chain: the client is unknown
			}
			if !inPrefixes(hop, trusted) || i == 0 {
				return hop
			}
		}
	}
	if real := r.Header.Get("X-Real-IP"); real != "" {
		return parseAddr(strings.TrimSpace(real))
	}
	return peer
}

// parseAddr accepts "addr", "addr:port" and "[v6]:port", and returns the
// address as normAddr gives it, so "::ffff:10.0.0.1" matches 10.0.0.0/8.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normAddr(ap.Addr())
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return normAddr(a)
}

// normAddr is the one form in which client and proxy addresses are
// compared (see WithTrustedProxies): netip.Prefix.Contains is false for an
// IPv4-mapped address against an IPv4 prefix, and for any address with a
// zone, so a form that differs by where the address was read would let one
// path match where another cannot.
func normAddr(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// normPrefix returns p with its host bits cleared and, when it is an
// IPv4-mapped prefix, as the IPv4 prefix it names, so that it matches the
// addresses normAddr gives. It refuses an invalid prefix, and a mapped one
// shorter than /96, which names no IPv4 range.
func normPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, errors.New("invalid IP range")
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IP range %s is IPv4-mapped but shorter than /96, so it names no IPv4 range", p)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// inPrefixes reports whether a, as normAddr gives it, is in one of
// prefixes, as normPrefix gives them.
func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
