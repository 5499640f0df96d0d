//go:build !linux

package agent

import (
	"net"
	"net/netip"
)

// listenInherited: socket activation is systemd's, so Linux only.
func listenInherited(netip.AddrPort) (net.Listener, bool, error) { return nil, false, nil }
