//go:build !linux

package agent

import (
	"errors"
	"net"
)

// ListenUnix is Linux only (SO_PEERCRED). The Windows named-pipe transport of D10 is not built yet;
// use the loopback TCP endpoint with client secrets.
func ListenUnix(path string, allowedUIDs []int) (net.Listener, error) {
	return nil, errors.New("agent: the Unix socket transport is supported on Linux only; " +
		"use the loopback TCP endpoint (listen) with client secrets")
}
