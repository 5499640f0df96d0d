//go:build windows

package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// handoverRequired: on Windows the CLI must not write its own (the admin's) vault; see doc.go.
const handoverRequired = true

// ServiceAccount is the Windows account the service runs as (security.md §5); the CLI sends keys only to
// a pipe server running as this account or as LocalSystem.
const ServiceAccount = `NT SERVICE\systemuser-agent`

// pipeSDDL admits SYSTEM, elevated Administrators and the service's own account (to create further pipe
// instances), and denies network logons. %s is the service account's SID.
const pipeSDDL = "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;%s)"

// ListenHandover creates the key hand-over pipe (HandoverPipeName) for ServeHandover. It fails if the
// pipe already exists (another process squatting it, or a second service instance).
func ListenHandover() (net.Listener, error) {
	self, err := currentUserSID()
	if err != nil {
		return nil, fmt.Errorf("keystore: key hand-over pipe: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(fmt.Sprintf(pipeSDDL, self.String()))
	if err != nil {
		return nil, fmt.Errorf("keystore: key hand-over pipe: bad security descriptor: %w", err)
	}
	l := &pipeListener{sa: &windows.SecurityAttributes{SecurityDescriptor: sd}}
	l.sa.Length = uint32(unsafe.Sizeof(*l.sa))
	h, err := l.create(true)
	if err != nil {
		return nil, fmt.Errorf("keystore: create the key hand-over pipe %s: %w (is another agent already running?)", HandoverPipeName, err)
	}
	l.next = h
	return l, nil
}

type pipeListener struct {
	sa     *windows.SecurityAttributes
	mu     sync.Mutex
	next   windows.Handle
	closed bool
}

func (l *pipeListener) create(first bool) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(HandoverPipeName)
	if err != nil {
		return windows.InvalidHandle, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	return windows.CreateNamedPipe(name, flags,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
		windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, l.sa)
}

// Accept waits for a client on the pending pipe instance, then prepares the next one.
func (l *pipeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	h := l.next
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	err := windows.ConnectNamedPipe(h, nil)
	if err != nil && !errors.Is(err, windows.ERROR_PIPE_CONNECTED) {
		return nil, fmt.Errorf("keystore: key hand-over pipe: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		windows.CloseHandle(h)
		return nil, net.ErrClosed
	}
	next, err := l.create(false)
	if err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("keystore: key hand-over pipe: next instance: %w", err)
	}
	l.next = next
	return pipeConn{os.NewFile(uintptr(h), HandoverPipeName)}, nil
}

// Close stops Accept: it marks the listener closed and connects once to wake a blocked ConnectNamedPipe.
func (l *pipeListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	h := l.next
	l.mu.Unlock()
	if c, err := openPipe(); err == nil {
		windows.CloseHandle(c)
	}
	return windows.CloseHandle(h)
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// pipeConn is a connected pipe instance as a net.Conn (deadlines are not supported on synchronous pipes;
// ServeHandover's context still bounds the exchange).
type pipeConn struct{ *os.File }

func (pipeConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (pipeConn) RemoteAddr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return HandoverPipeName }

func openPipe() (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(HandoverPipeName)
	if err != nil {
		return windows.InvalidHandle, err
	}
	return windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
}

// dialHandover connects to the service's pipe and checks that the process serving it runs as the service
// account (or LocalSystem) before anything is sent: a squatter gets nothing.
func dialHandover(ctx context.Context) (net.Conn, error) {
	var h windows.Handle
	var err error
	for range 20 { // a busy pipe frees within milliseconds; bounded
		if h, err = openPipe(); !errors.Is(err, windows.ERROR_PIPE_BUSY) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	switch {
	case errors.Is(err, windows.ERROR_FILE_NOT_FOUND):
		return nil, fmt.Errorf("keystore: the systemuser-agent service is not running (no %s): keys on Windows are stored by the service in its own Credential Manager vault; start it (agent service start) and retry: %w", HandoverPipeName, ErrUnavailable)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return nil, fmt.Errorf("keystore: access to %s denied: run this command from an elevated (Run as administrator) prompt on the machine itself: %w", HandoverPipeName, ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("keystore: open %s: %w", HandoverPipeName, err)
	}
	if err := checkPipeServer(h); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return pipeConn{os.NewFile(uintptr(h), HandoverPipeName)}, nil
}

// checkPipeServer verifies the account of the process at the other end of pipe h.
func checkPipeServer(h windows.Handle) error {
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(h, &pid); err != nil {
		return fmt.Errorf("keystore: identify the key pipe's server: %w", err)
	}
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return fmt.Errorf("keystore: identify the key pipe's server (pid %d): %w", pid, err)
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("keystore: identify the key pipe's server (pid %d): %w", pid, err)
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return fmt.Errorf("keystore: identify the key pipe's server (pid %d): %w", pid, err)
	}
	svc, _, _, err := windows.LookupSID("", ServiceAccount)
	if err == nil && u.User.Sid.Equals(svc) {
		return nil
	}
	if u.User.Sid.IsWellKnown(windows.WinLocalSystemSid) {
		return nil
	}
	return fmt.Errorf("keystore: the process serving %s (pid %d, account %s) is not the systemuser-agent service: nothing was sent; stop that process and restart the service", HandoverPipeName, pid, u.User.Sid.String())
}

func currentUserSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid.Copy()
}
