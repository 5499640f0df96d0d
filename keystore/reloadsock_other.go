//go:build !linux

package keystore

import (
	"context"
	"fmt"
	"net"
)

// ListenReloadSocket exists on Linux only (systemd credentials); on Windows the reload travels on the
// hand-over pipe.
func ListenReloadSocket(string, int) (net.Listener, error) {
	return nil, fmt.Errorf("keystore: the reload socket exists on Linux only: %w", ErrUnavailable)
}

// DialReloadSocket exists on Linux only; see ListenReloadSocket.
func DialReloadSocket(context.Context, string, int) (net.Conn, error) {
	return nil, fmt.Errorf("keystore: the reload socket exists on Linux only: %w", ErrUnavailable)
}
