//go:build !windows

package keystore

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// listenHandoverTest listens on a Unix socket, standing in for the Windows pipe.
func listenHandoverTest(t testing.TB) (net.Listener, func(context.Context) (net.Conn, error)) {
	t.Helper()
	dir, err := os.MkdirTemp("", "suak") // short: Unix socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "keys.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	return ln, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) }
}
