package apikey

import (
	"net/http"
	"net/netip"
	"strings"
)

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

// inPrefixes reports whether a, as normAddr gives it, is in one of
// prefixes, as CanonicalPrefix gives them.
func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
