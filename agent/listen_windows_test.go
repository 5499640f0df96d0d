package agent

import (
	"context"
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// TestD9ExclusiveAddrUse: the listener has SO_EXCLUSIVEADDRUSE set, so no socket can bind over it.
func TestD9ExclusiveAddrUse(t *testing.T) {
	ln, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl, ok := ln.(*net.TCPListener)
	if d, isDual := ln.(*dualListener); isDual {
		tl, ok = d.Listener.(*net.TCPListener)
	}
	if !ok {
		t.Fatalf("Listen returned %T", ln)
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = windows.GetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, soExclusiveAddrUse)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil || v != 1 {
		t.Fatalf("SO_EXCLUSIVEADDRUSE = %d (%v), want 1", v, gerr)
	}
	var _ syscall.RawConn = raw
}
