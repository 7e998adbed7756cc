package apikey

import (
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
func WithTrustedProxies(proxies ...netip.Prefix) MiddlewareOption {
	return func(c *middlewareConfig) { c.trusted = append(c.trusted, proxies...) }
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
	return &clientAddr{addr: a.Unmap(), resolved: true}
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

// parseAddr accepts "addr", "addr:port" and "[v6]:port"; IPv4-mapped IPv6
// addresses become IPv4, so "::ffff:10.0.0.1" matches 10.0.0.0/8.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
