package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Of returns the peer's pid, uid and gid as the kernel recorded them when the connection was made.
func Of(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, fmt.Errorf("read the peer's credentials (SO_PEERCRED): %w", cerr)
	}
	return cred, nil
}
