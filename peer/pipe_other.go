//go:build !windows

package peer

import (
	"errors"
	"net"
)

// ListenPipe is Windows only; on Linux use ListenUnix.
func ListenPipe(name string, osUsers []string) (net.Listener, error) {
	return nil, errors.New("peer: named pipes are Windows only; on Linux use the Unix socket")
}
