package media

import (
	"net/netip"
	"strconv"
	"strings"
)

// refusedError is a URL or address refused by the address policy. Reason is
// safe to show the client: it names a category, never an address.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "refused: " + e.reason }

// addrPolicy decides which addresses the fetcher may dial. By default only
// public unicast addresses; AllowHosts opens exactly the hosts and networks
// it lists (on-premises deployments, tests).
type addrPolicy struct {
	nets  []netip.Prefix
	hosts []string // lower case; "*.example.com" matches subdomains
}

func newAddrPolicy(allow []string) (addrPolicy, error) {
	var a addrPolicy
	for _, h := range allow {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.Contains(h, "/") {
			p, err := netip.ParsePrefix(h)
			if err != nil {
				return a, err
			}
			a.nets = append(a.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
			a.nets = append(a.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		a.hosts = append(a.hosts, strings.TrimSuffix(h, "."))
	}
	return a, nil
}

// hostAllowed reports whether a host name is listed: its connections skip
// the address check, wherever the name resolves.
func (a *addrPolicy) hostAllowed(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, h := range a.hosts {
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// check refuses an address that is not public, unless AllowHosts lists it.
func (a *addrPolicy) check(ip netip.Addr) error {
	for _, n := range a.nets {
		if n.Contains(ip) || ip.Is4In6() && n.Contains(ip.Unmap()) {
			return nil
		}
	}
	if r := nonPublic(ip); r != "" {
		return &refusedError{reason: r}
	}
	return nil
}

// nonPublic names the kind of a non-public address, or "" for a public one.
func nonPublic(ip netip.Addr) string {
	if ip.Zone() != "" {
		return "an IPv6 address with a zone"
	}
	if ip.Is4In6() {
		// The kernel dials the embedded IPv4 address.
		return nonPublic4(ip.Unmap())
	}
	if ip.Is4() {
		return nonPublic4(ip)
	}
	b := ip.As16()
	in := func(s string) bool { return netip.MustParsePrefix(s).Contains(ip) }
	embedded := func(off int) netip.Addr { return netip.AddrFrom4([4]byte(b[off : off+4])) }
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case in("::/96"):
		return "an IPv4-compatible IPv6 address"
	case in("64:ff9b::/96"):
		// NAT64: public when the IPv4 address inside is.
		if r := nonPublic4(embedded(12)); r != "" {
			return "a NAT64 address of " + r
		}
		return ""
	case in("64:ff9b:1::/48"):
		return "a local-use NAT64 address"
	case in("2002::/16"):
		if r := nonPublic4(embedded(2)); r != "" {
			return "a 6to4 address of " + r
		}
		return ""
	case in("2001::/32"):
		return "a Teredo tunnel address"
	case in("fc00::/7"):
		return "an IPv6 unique-local address"
	case in("fe80::/10"), in("fec0::/10"):
		return "an IPv6 link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case in("100::/64"), in("2001:db8::/32"), in("2001:10::/28"), in("2001:20::/28"), in("3fff::/20"):
		return "a reserved IPv6 address"
	case !in("2000::/3"):
		return "a reserved IPv6 address"
	}
	return ""
}

func nonPublic4(ip netip.Addr) string {
	b := ip.As4()
	in := func(s string) bool { return netip.MustParsePrefix(s).Contains(ip) }
	switch {
	case b == [4]byte{255, 255, 255, 255}:
		return "the broadcast address"
	case in("0.0.0.0/8"):
		return "the unspecified address"
	case in("127.0.0.0/8"):
		return "a loopback address"
	case in("10.0.0.0/8"), in("172.16.0.0/12"), in("192.168.0.0/16"):
		return "a private-network address"
	case in("169.254.0.0/16"):
		return "a link-local address (such as the cloud metadata service)"
	case in("100.64.0.0/10"):
		return "a carrier-grade NAT address"
	case in("224.0.0.0/4"):
		return "a multicast address"
	case in("240.0.0.0/4"), in("192.0.0.0/24"), in("192.0.2.0/24"), in("198.18.0.0/15"),
		in("198.51.100.0/24"), in("203.0.113.0/24"), in("192.88.99.0/24"):
		return "a reserved address"
	}
	return ""
}

// hostIP reads a URL host as an IP address the way browsers and C resolvers
// do, so "2130706433", "0x7f.1" and "0177.0.0.1" are all 127.0.0.1. ok is
// false for a host name; bad is true for something that looks numeric but
// is no address (refused rather than handed to a resolver).
func hostIP(host string) (ip netip.Addr, ok, bad bool) {
	h := strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true, false
	}
	parts := strings.Split(h, ".")
	if last := parts[len(parts)-1]; !numeric(last) {
		return netip.Addr{}, false, false
	}
	if len(parts) > 4 {
		return netip.Addr{}, false, true
	}
	var vals []uint64
	for _, p := range parts {
		v, ok := parseNum(p)
		if !ok {
			return netip.Addr{}, false, true
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false, true
		}
		n |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false, true
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true, false
}

// numeric reports whether a label is a number in any C notation.
func numeric(s string) bool {
	if s == "" {
		return false
	}
	if len(s) > 1 && (s[:2] == "0x" || s[:2] == "0X") {
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseNum(s string) (uint64, bool) {
	base := 10
	switch {
	case len(s) > 1 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	v, err := strconv.ParseUint(s, base, 32)
	return v, err == nil
}
