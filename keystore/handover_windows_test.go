package keystore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
)

// testEndpoint is a pipe of its own for one test, served by this process's account: under wine every
// process runs as one account, so a test cannot start a server as another; the refusals below name a
// different account instead.
func testEndpoint(t testing.TB) HandoverEndpoint {
	t.Helper()
	self, err := winpipe.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return HandoverEndpoint{Pipe: `\\.\pipe\systemuser-agent-test\` + hex.EncodeToString(b[:]), Account: self.String()}
}

// listenHandoverTest listens on a real hand-over pipe (ListenHandoverAt) and dials it as the CLI does.
func listenHandoverTest(t testing.TB) (net.Listener, func(context.Context) (net.Conn, error)) {
	t.Helper()
	ep := testEndpoint(t)
	ln, err := ListenHandoverAt(ep)
	if err != nil {
		t.Fatal(err)
	}
	return ln, func(ctx context.Context) (net.Conn, error) { return dialHandover(ctx, ep) }
}

// TestHandoverPipeRefusesOtherAccount: a CLI expecting the service account refuses a pipe owned and
// served by another account before sending anything (here: this test's account serves, the CLI expects
// LOCAL SERVICE). What wine cannot show: a squatter really running as another account, and the owner
// a non-admin cannot set (docs/windows-test-plan.md step 7).
func TestHandoverPipeRefusesOtherAccount(t *testing.T) {
	mem := NewMemory()
	ep := testEndpoint(t)
	ln, err := ListenHandoverAt(ep)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeHandover(ctx, ln, mem, nil) }()
	defer func() { cancel(); <-done }()

	cli := ep
	cli.Account = "S-1-5-19" // NT AUTHORITY\LOCAL SERVICE
	r := NewRemote(BackendKeyring, func(ctx context.Context) (net.Conn, error) { return dialHandover(ctx, cli) })
	_, err = r.Generate(context.Background(), "mp", 2048)
	if err == nil || !strings.Contains(err.Error(), "not the service account") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("a pipe served by another account: %v", err)
	}
	if names, _ := mem.List(context.Background()); len(names) != 0 {
		t.Fatalf("the refused request reached the server: %v", names)
	}
	// The right account is served.
	ok := NewRemote(BackendKeyring, func(ctx context.Context) (net.Conn, error) { return dialHandover(ctx, ep) })
	if _, err := ok.Generate(context.Background(), "mp", 2048); err != nil {
		t.Fatal(err)
	}
}

// TestHandoverEndpointRefusals: an account that does not resolve is an error (never a skipped check),
// and the service refuses to open a pipe for an account it does not run as.
func TestHandoverEndpointRefusals(t *testing.T) {
	ep := testEndpoint(t)
	ep.Account = `NT SERVICE\systemuser-agent-no-such-service`
	if _, err := dialHandover(context.Background(), ep); err == nil || !strings.Contains(err.Error(), "look up the service account") {
		t.Errorf("unresolvable account: %v", err)
	}
	ep.Account = "S-1-5-19"
	if ln, err := ListenHandoverAt(ep); err == nil || !strings.Contains(err.Error(), "the CLI would refuse") {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("listening for another account: %v", err)
	}
	if _, err := dialHandover(context.Background(), testEndpoint(t)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("no pipe: %v", err)
	}
}

// TestPipeListenerCloseAndNoData: Close wakes a blocked Accept once (the instance is closed once, by
// Accept), a second Close is harmless, and a client that connects and leaves before Accept does not
// break the listener (ERROR_NO_DATA is retried, not fatal).
func TestPipeListenerCloseAndNoData(t *testing.T) {
	ep := testEndpoint(t)
	ln, err := ListenHandoverAt(ep)
	if err != nil {
		t.Fatal(err)
	}
	// A client that comes and goes before anyone accepts.
	h, err := winpipe.Open(ep.Pipe)
	if err != nil {
		t.Fatal(err)
	}
	_ = windows.CloseHandle(h)
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = c.Write([]byte("x"))
			c.Close()
		}
		accepted <- err
	}()
	c, err := dialHandover(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("after a vanished client, the next one got %q, %v", buf, err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { _, err := ln.Accept(); blocked <- err }()
	time.Sleep(100 * time.Millisecond) // let Accept wait on its instance
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
