package agent

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/windows"
)

// soExclusiveAddrUse is SO_EXCLUSIVEADDRUSE (~SO_REUSEADDR in winsock2.h); x/sys/windows lacks it.
const soExclusiveAddrUse = ^windows.SO_REUSEADDR

// listenControl sets SO_EXCLUSIVEADDRUSE before bind (D9): without it another socket could bind over
// ours with SO_REUSEADDR and receive callers' secrets.
func listenControl() func(network, address string, c syscall.RawConn) error {
	return func(_, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soExclusiveAddrUse, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setting SO_EXCLUSIVEADDRUSE on %s: %w", address, serr)
		}
		return nil
	}
}

// addrInUse reports a port held by another socket; with SO_EXCLUSIVEADDRUSE that is WSAEACCES too.
func addrInUse(err error) bool {
	return errors.Is(err, windows.WSAEADDRINUSE) || errors.Is(err, windows.WSAEACCES)
}
