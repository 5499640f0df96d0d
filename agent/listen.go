package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// parseLoopback accepts only a literal loopback address with a port: 127.0.0.0/8 or ::1 (D1). Host
// names, even localhost, may resolve elsewhere; wildcards and LAN addresses expose the endpoint.
func parseLoopback(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not host:port; use a literal loopback address such as "+
			"127.0.0.1:7070 or [::1]:7070", addr)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q has no numeric port; use e.g. 127.0.0.1:7070", addr)
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%q names a host, not a literal loopback address: a name (even "+
			"localhost) may resolve elsewhere; use 127.0.0.1:%s or [::1]:%s", addr, port, port)
	case ip.IsUnspecified():
		return netip.AddrPort{}, fmt.Errorf("%q listens on every interface, so other hosts could reach it; "+
			"use 127.0.0.1:%s or [::1]:%s", addr, port, port)
	case ip.Zone() != "", !(ip.Is4() && ip.As4()[0] == 127) && ip != netip.IPv6Loopback():
		return netip.AddrPort{}, fmt.Errorf("%q is not a loopback address (127.0.0.0/8 or ::1), so other "+
			"hosts could reach it; use 127.0.0.1:%s or [::1]:%s", addr, port, port)
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}

// Listen opens the local endpoint's TCP listener on a literal loopback address only (D1): 127.0.0.0/8
// or ::1; a host name (even localhost), a wildcard or a LAN address is refused. There is no fallback
// port (D9): if the port is taken the error says so and how to find the owner. On Linux, a socket passed
// by systemd socket activation (LISTEN_FDS/LISTEN_PID naming this process) is used instead, after
// checking it is the same address. On Windows the socket takes SO_EXCLUSIVEADDRUSE.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	ap, err := parseLoopback(addr)
	if err != nil {
		return nil, fmt.Errorf("agent: listen address: %w", err)
	}
	if ln, ok, err := listenInherited(ap); ok || err != nil {
		return ln, err
	}
	network := "tcp4"
	if ap.Addr().Is6() {
		network = "tcp6"
	}
	lc := net.ListenConfig{Control: listenControl()}
	ln, err := lc.Listen(ctx, network, ap.String())
	if err != nil {
		if addrInUse(err) {
			return nil, portTakenError(ap, err)
		}
		return nil, fmt.Errorf("agent: listening on %s: %w; check the listen setting", ap, err)
	}
	return ln, nil
}

func portTakenError(ap netip.AddrPort, err error) error {
	p := ap.Port()
	return fmt.Errorf("agent: port %d on %s is taken by another process (%w). The agent never binds "+
		"another port: a process squatting on the configured port could harvest caller secrets. Find the "+
		"owner with `ss -ltnp 'sport = :%d'` (Linux), `lsof -nP -iTCP:%d -sTCP:LISTEN` (macOS) or "+
		"`netstat -abno | findstr :%d` as Administrator (Windows); stop it, or change listen in the "+
		"config and in every caller", p, ap.Addr(), err, p, p, p)
}
