//go:build !windows

package agent

import (
	"errors"
	"syscall"
)

// listenControl is nil here: on Unix a listening socket cannot be bound over (Go sets SO_REUSEADDR,
// which only skips TIME_WAIT, and never SO_REUSEPORT).
func listenControl() func(network, address string, c syscall.RawConn) error { return nil }

func addrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
