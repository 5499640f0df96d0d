package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// quote quotes a value for a message, cut to 80 bytes.
func quote(v string) string {
	if len(v) > 80 {
		return strconv.Quote(v[:80]) + "…"
	}
	return strconv.Quote(v)
}

// orgWeights are the weights of the Brønnøysund mod-11 check digit.
var orgWeights = [8]int{3, 2, 7, 6, 5, 4, 3, 2}

// CheckOrgNumber checks a Norwegian organisation number: exactly 9 digits whose last is the mod-11 check
// digit of the first eight (weights 3,2,7,6,5,4,3,2; remainder 0 gives 0, remainder 1 is never issued).
func CheckOrgNumber(s string) error {
	if rest, ok := strings.CutPrefix(s, "0192:"); ok {
		return fmt.Errorf("%s has the 0192: prefix; write only the 9 digits, e.g. %s", quote(s), quote(rest))
	}
	if len(s) != 9 || strings.Trim(s, "0123456789") != "" {
		return fmt.Errorf("%s is not an organisation number: it must be exactly 9 digits, no spaces (quote it in YAML: \"314250052\")", quote(s))
	}
	sum := 0
	for i, w := range orgWeights {
		sum += int(s[i]-'0') * w
	}
	check := 0
	switch r := sum % 11; r {
	case 0:
	case 1:
		return fmt.Errorf("%s is not an organisation number: no number with these first eight digits exists (mod-11 check); check for a typo", s)
	default:
		check = 11 - r
	}
	if int(s[8]-'0') != check {
		return fmt.Errorf("%s is not an organisation number: the last digit should be %d (mod-11 check); check for a typo", s, check)
	}
	return nil
}

// LoopbackAddr parses addr by the one loopback rule (D1): a literal loopback IP with a port,
// 127.x.y.z:port or [::1]:port. Wildcards, host names (localhost included) and other IPs are refused: a
// token from the agent acts for the whole organisation, so only software on this machine may reach the
// endpoint, and a name can resolve elsewhere. Port 0 (any free port, for the demo and tests) is accepted
// here; CheckLoopback, for the config file, requires a fixed port.
func LoopbackAddr(addr string) (netip.AddrPort, error) {
	const why = "tokens from this endpoint act for the whole organisation, so only software on this machine may get them"
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if ip, perr := netip.ParseAddr(strings.Trim(addr, "[]")); perr == nil && ip.IsLoopback() {
			return netip.AddrPort{}, fmt.Errorf("%s has no port; add one, e.g. %s", quote(addr), net.JoinHostPort(ip.String(), "7070"))
		}
		return netip.AddrPort{}, fmt.Errorf("%s is not an address with a port; use a literal loopback address with a port, e.g. %s or [::1]:7070", quote(addr), DefaultListen)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "":
		return netip.AddrPort{}, fmt.Errorf("%s listens on every network interface; %s. Use 127.0.0.1:%s", quote(addr), why, port)
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%s names a host; use a literal loopback IP such as 127.0.0.1:%s, because a name (even localhost) can resolve to a non-loopback address and %s", quote(addr), port, why)
	case ip.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("%s listens on every network interface; %s. Use 127.0.0.1:%s", quote(addr), why, port)
	case ip.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("%s has an IPv6 zone; use [::1]:%s or 127.0.0.1:%s", quote(addr), port, port)
	case ip.Is4In6():
		return netip.AddrPort{}, fmt.Errorf("%s is an IPv4-mapped IPv6 address; write the IPv4 form, e.g. %s", quote(addr), net.JoinHostPort(ip.Unmap().String(), port))
	case !(ip.Is4() && ip.IsLoopback()) && ip != netip.IPv6Loopback():
		return netip.AddrPort{}, fmt.Errorf("%s is not a loopback address, so other machines can reach it; %s. Use 127.0.0.1:%s or [::1]:%s", quote(addr), why, port, port)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || strconv.FormatUint(n, 10) != port {
		return netip.AddrPort{}, fmt.Errorf("%s has the port %s; use a number from 1 to 65535, e.g. %s", quote(addr), quote(port), DefaultListen)
	}
	return netip.AddrPortFrom(ip, uint16(n)), nil
}

// CheckLoopback checks a listen address of the config file: LoopbackAddr's rule, with a fixed port.
func CheckLoopback(addr string) error {
	ap, err := LoopbackAddr(addr)
	if err == nil && ap.Port() == 0 {
		return fmt.Errorf("%s has the port %s; use a number from 1 to 65535, e.g. %s", quote(addr), quote("0"), DefaultListen)
	}
	return err
}
