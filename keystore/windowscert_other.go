//go:build !windows

package keystore

import "fmt"

// openWindowsCert is only available on Windows.
func openWindowsCert(thumb []byte) (*certSigner, error) {
	return nil, fmt.Errorf("keystore windows-cert: the Windows certificate store exists only on Windows: %w", ErrUnavailable)
}
