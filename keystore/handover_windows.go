//go:build windows

package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// handoverRequired: on Windows the CLI must not write its own (the admin's) vault; see doc.go.
const handoverRequired = true

// pipeSDDL owns the pipe by the service account and admits SYSTEM, elevated Administrators and the
// service account (to create further instances), denying network logons. Both %s are the service
// account's SID; the CLI checks the owner before sending anything.
const pipeSDDL = "O:%sD:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;%s)"

// ListenHandover creates the key hand-over pipe at the default endpoint; see ListenHandoverAt.
func ListenHandover() (net.Listener, error) { return ListenHandoverAt(HandoverEndpoint{}) }

// ListenHandoverAt creates the key hand-over pipe ep.Pipe for ServeHandover, owned by this process's
// account, which must be ep.Account (else the CLI would refuse it, so this fails at once and says so).
// It fails if the pipe already exists (another process squatting it, or a second service instance).
func ListenHandoverAt(ep HandoverEndpoint) (net.Listener, error) {
	ep = ep.withDefaults()
	self, err := currentUserSID()
	if err != nil {
		return nil, fmt.Errorf("keystore: key hand-over pipe: this process's account: %w", err)
	}
	want, err := accountSID(ep.Account)
	if err != nil {
		return nil, err
	}
	if !self.Equals(want) {
		return nil, fmt.Errorf("keystore: key hand-over pipe: this process runs as %s, but the service account is %s (%s): the CLI would refuse this pipe; run the service as that account (agent service install) or name this one", self, ep.Account, want)
	}
	sd, err := windows.SecurityDescriptorFromString(fmt.Sprintf(pipeSDDL, self, self))
	if err != nil {
		return nil, fmt.Errorf("keystore: key hand-over pipe: bad security descriptor: %w", err)
	}
	l := &pipeListener{name: ep.Pipe, sa: &windows.SecurityAttributes{SecurityDescriptor: sd}, next: windows.InvalidHandle}
	l.sa.Length = uint32(unsafe.Sizeof(*l.sa))
	h, err := l.create(true)
	if err != nil {
		return nil, fmt.Errorf("keystore: create the key hand-over pipe %s: %w (is another agent already running, or another program holding the name?)", ep.Pipe, err)
	}
	l.next = h
	return l, nil
}

// pipeListener is a net.Listener over instances of one named pipe. Instances are overlapped, so a
// blocked Accept is woken by Close (CancelIoEx) and connections support deadlines.
type pipeListener struct {
	name      string
	sa        *windows.SecurityAttributes
	mu        sync.Mutex
	next      windows.Handle // the instance waiting for a client, or InvalidHandle
	accepting bool           // Accept is waiting on next: it, not Close, closes next
	closed    bool
}

func (l *pipeListener) create(first bool) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(l.name)
	if err != nil {
		return windows.InvalidHandle, err
	}
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	return windows.CreateNamedPipe(name, flags,
		windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT|windows.PIPE_REJECT_REMOTE_CLIENTS,
		windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, l.sa)
}

// Accept waits for a client on the pending instance, then prepares the next one. A client that came
// and went before the wait (ERROR_NO_DATA) is not an error: the instance is reset and waits again.
func (l *pipeListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		if l.next == windows.InvalidHandle {
			h, err := l.create(false)
			if err != nil {
				l.mu.Unlock()
				return nil, fmt.Errorf("keystore: key hand-over pipe %s: new instance: %w", l.name, err)
			}
			l.next = h
		}
		h := l.next
		l.accepting = true
		l.mu.Unlock()

		err := connectPipe(h)

		l.mu.Lock()
		l.accepting = false
		if l.closed {
			l.next = windows.InvalidHandle
			l.mu.Unlock()
			windows.CloseHandle(h)
			return nil, net.ErrClosed
		}
		switch {
		case err == nil:
			l.next = windows.InvalidHandle
			if n, err := l.create(false); err == nil {
				l.next = n
			} // else the next Accept creates it, or says why it cannot
			l.mu.Unlock()
			return pipeConn{os.NewFile(uintptr(h), l.name)}, nil
		case errors.Is(err, windows.ERROR_NO_DATA):
			_ = windows.DisconnectNamedPipe(h)
			l.mu.Unlock()
		default:
			l.next = windows.InvalidHandle
			l.mu.Unlock()
			windows.CloseHandle(h)
			return nil, fmt.Errorf("keystore: key hand-over pipe %s: %w", l.name, err)
		}
	}
}

// connectPipe waits for a client on the overlapped instance h; CancelIoEx(h) ends the wait.
func connectPipe(h windows.Handle) error {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(ev)
	ov := windows.Overlapped{HEvent: ev}
	err = windows.ConnectNamedPipe(h, &ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
		return nil
	case errors.Is(err, windows.ERROR_IO_PENDING):
		var n uint32
		return windows.GetOverlappedResult(h, &ov, &n, true)
	}
	return err
}

// Close stops Accept. The pending instance is closed exactly once: here when no Accept waits on it,
// else by that Accept, which CancelIoEx wakes.
func (l *pipeListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	h := l.next
	if h == windows.InvalidHandle {
		return nil
	}
	if l.accepting {
		if err := windows.CancelIoEx(h, nil); err != nil && !errors.Is(err, windows.ERROR_NOT_FOUND) {
			return fmt.Errorf("keystore: stop waiting on %s: %w", l.name, err)
		}
		return nil
	}
	l.next = windows.InvalidHandle
	return windows.CloseHandle(h)
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.name) }

// pipeConn is a connected pipe instance as a net.Conn; the handle is overlapped, so os.File supports
// deadlines on it.
type pipeConn struct{ *os.File }

func (c pipeConn) LocalAddr() net.Addr  { return pipeAddr(c.Name()) }
func (c pipeConn) RemoteAddr() net.Addr { return pipeAddr(c.Name()) }

type pipeAddr string

func (pipeAddr) Network() string  { return "pipe" }
func (a pipeAddr) String() string { return string(a) }

func openPipe(pipe string) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(pipe)
	if err != nil {
		return windows.InvalidHandle, err
	}
	return windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
}

// dialHandover connects to the service's pipe and checks that both the pipe's owner and the process
// serving it are the service account before anything is sent: a squatter gets nothing.
func dialHandover(ctx context.Context, ep HandoverEndpoint) (net.Conn, error) {
	want, err := accountSID(ep.Account)
	if err != nil {
		return nil, err
	}
	var h windows.Handle
	for range 20 { // a busy pipe frees within milliseconds; bounded
		if h, err = openPipe(ep.Pipe); !errors.Is(err, windows.ERROR_PIPE_BUSY) {
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
		return nil, fmt.Errorf("keystore: the systemuser-agent service is not running (no %s): keys on Windows are stored by the service in its own Credential Manager vault; start it (agent service start) and retry: %w", ep.Pipe, ErrUnavailable)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return nil, fmt.Errorf("keystore: access to %s denied: run this command from an elevated (Run as administrator) prompt on the machine itself: %w", ep.Pipe, ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("keystore: open %s: %w", ep.Pipe, err)
	}
	if err := checkPipeServer(h, ep, want); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return pipeConn{os.NewFile(uintptr(h), ep.Pipe)}, nil
}

// checkPipeServer verifies that pipe h is owned by, and served by a process running as, the service
// account want. Either failing means another program may hold the name.
func checkPipeServer(h windows.Handle, ep HandoverEndpoint, want *windows.SID) error {
	refuse := func(what string, got *windows.SID) error {
		return fmt.Errorf("keystore: %s %s is %s, not the service account %s (%s): another program may be holding the pipe's name; nothing was sent. Stop that program and restart the service (agent service restart)", what, ep.Pipe, got, ep.Account, want)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("keystore: read the owner of %s: %w; nothing was sent", ep.Pipe, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("keystore: read the owner of %s: %v; nothing was sent", ep.Pipe, err)
	}
	if !owner.Equals(want) {
		return refuse("the owner of", owner)
	}
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(h, &pid); err != nil {
		return fmt.Errorf("keystore: identify the process serving %s: %w; nothing was sent", ep.Pipe, err)
	}
	user, err := processUser(pid)
	if err != nil {
		return fmt.Errorf("keystore: identify the process serving %s (pid %d): %w; nothing was sent", ep.Pipe, pid, err)
	}
	if !user.Equals(want) {
		return refuse(fmt.Sprintf("the account of pid %d serving", pid), user)
	}
	return nil
}

// processUser is the account process pid runs as.
func processUser(pid uint32) (*windows.SID, error) {
	p, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(p)
	var tok windows.Token
	if err := windows.OpenProcessToken(p, windows.TOKEN_QUERY, &tok); err != nil {
		return nil, err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid.Copy()
}

// accountSID resolves an account name or SID string; a name that does not resolve is an error, never a
// reason to skip the check.
func accountSID(account string) (*windows.SID, error) {
	if strings.HasPrefix(strings.ToUpper(account), "S-1-") {
		sid, err := windows.StringToSid(account)
		if err != nil {
			return nil, fmt.Errorf("keystore: service account SID %q: %w", account, err)
		}
		return sid, nil
	}
	sid, _, _, err := windows.LookupSID("", account)
	if err != nil {
		return nil, fmt.Errorf("keystore: look up the service account %q: %w; install the service first (agent service install), or name the account or its SID", account, err)
	}
	return sid, nil
}

func currentUserSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid.Copy()
}
