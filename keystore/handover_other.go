//go:build !windows

package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// handoverRequired is false off Windows: there the CLI writes the key store the service reads (systemd
// credentials, or the desktop user's own keyring).
const handoverRequired = false

// ListenHandoverAt exists on Windows only, where the service's Credential Manager vault can be written by
// the service alone. Elsewhere it returns an error; ServeHandover itself works with any net.Listener.
func ListenHandoverAt(HandoverEndpoint) (net.Listener, error) {
	return nil, errors.New("keystore: the key hand-over pipe exists on Windows only: on Linux the CLI writes systemd credentials directly")
}

func dialHandover(context.Context, HandoverEndpoint) (net.Conn, error) {
	return nil, fmt.Errorf("keystore: the key hand-over pipe exists on Windows only: %w", ErrUnavailable)
}
