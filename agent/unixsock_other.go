//go:build !linux

package agent

import (
	"errors"
	"net"
)

var errUnixOnly = errors.New("agent: the Unix socket transport is supported on Linux only; " +
	"use the loopback TCP endpoint (listen) with client secrets, or on Windows the named pipe (package peer)")

// ListenUnix is Linux only (SO_PEERCRED).
func ListenUnix(path string, allowedUIDs []int) (net.Listener, error) { return nil, errUnixOnly }

// ListenUnixAccounts is Linux only (SO_PEERCRED).
func ListenUnixAccounts(path string, accounts map[int]string) (net.Listener, error) {
	return nil, errUnixOnly
}
