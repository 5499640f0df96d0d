//go:build windows

package winpipe

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

// Listen creates the first instance of pipe name with the security descriptor sddl
// (FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_REJECT_REMOTE_CLIENTS): it fails if the name exists.
func Listen(name, sddl string) (*Listener, error) {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("bad security descriptor for %s: %w", name, err)
	}
	l := &Listener{name: name, sa: &windows.SecurityAttributes{SecurityDescriptor: sd}, next: windows.InvalidHandle}
	l.sa.Length = uint32(unsafe.Sizeof(*l.sa))
	if l.closedEv, err = windows.CreateEvent(nil, 1, 0, nil); err != nil {
		return nil, fmt.Errorf("pipe %s: %w", name, err)
	}
	h, err := l.create(true)
	if err != nil {
		windows.CloseHandle(l.closedEv)
		return nil, err
	}
	l.next = h
	return l, nil
}

// Listener is a net.Listener over instances of one named pipe. Instances are overlapped, so a
// blocked Accept is woken by Close (CancelIoEx) and connections support deadlines.
type Listener struct {
	name      string
	sa        *windows.SecurityAttributes
	mu        sync.Mutex
	next      windows.Handle // the instance waiting for a client, or InvalidHandle
	accepting bool           // Accept is waiting on next: it, not Close, closes next
	closed    bool
	closedEv  windows.Handle // manual-reset event Close sets; kept for the listener's life
}

func (l *Listener) create(first bool) (windows.Handle, error) {
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

// Accept implements net.Listener: it waits for a client on the pending instance, then prepares the next one. A client that came
// and went before the wait (ERROR_NO_DATA) is not an error: the instance is reset and waits again.
func (l *Listener) Accept() (net.Conn, error) {
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
				return nil, fmt.Errorf("pipe %s: new instance: %w", l.name, err)
			}
			l.next = h
		}
		h := l.next
		l.accepting = true
		l.mu.Unlock()

		err := connectPipe(h, l.closedEv)

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
			return &Conn{File: os.NewFile(uintptr(h), l.name), h: h}, nil
		case errors.Is(err, windows.ERROR_NO_DATA):
			_ = windows.DisconnectNamedPipe(h)
			l.mu.Unlock()
		default:
			l.next = windows.InvalidHandle
			l.mu.Unlock()
			windows.CloseHandle(h)
			return nil, fmt.Errorf("pipe %s: %w", l.name, err)
		}
	}
}

// connectPipe waits for a client on the overlapped instance h, or until closed is set (Close): then
// the wait is cancelled and ERROR_OPERATION_ABORTED returned. closed is a manual-reset event, so a Close
// that comes before the wait begins is seen too.
func connectPipe(h, closed windows.Handle) error {
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
	case !errors.Is(err, windows.ERROR_IO_PENDING):
		return err
	}
	var n uint32
	which, err := windows.WaitForMultipleObjects([]windows.Handle{ev, closed}, false, windows.INFINITE)
	if err == nil && which == windows.WAIT_OBJECT_0+1 {
		_ = windows.CancelIoEx(h, &ov)
		_ = windows.GetOverlappedResult(h, &ov, &n, true) // the cancelled wait must end before ov goes
		return windows.ERROR_OPERATION_ABORTED
	}
	return windows.GetOverlappedResult(h, &ov, &n, true)
}

// Close implements net.Listener and stops Accept. The pending instance is closed exactly once: here
// when no Accept waits on it, else by that Accept, which the closed event wakes.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := windows.SetEvent(l.closedEv); err != nil {
		return fmt.Errorf("stop waiting on %s: %w", l.name, err)
	}
	h := l.next
	if h == windows.InvalidHandle || l.accepting {
		return nil
	}
	l.next = windows.InvalidHandle
	return windows.CloseHandle(h)
}

// Addr implements net.Listener: the pipe's name.
func (l *Listener) Addr() net.Addr { return pipeAddr(l.name) }

// Conn is a connected pipe instance as a net.Conn; the handle is overlapped, so os.File supports
// deadlines on it.
type Conn struct {
	*os.File
	h windows.Handle
}

// Handle is the pipe instance's handle, for identifying the other end; it stays owned by c.
func (c *Conn) Handle() windows.Handle { return c.h }

// LocalAddr implements net.Conn: the pipe's name.
func (c *Conn) LocalAddr() net.Addr { return pipeAddr(c.Name()) }

// RemoteAddr implements net.Conn: the pipe's name.
func (c *Conn) RemoteAddr() net.Addr { return pipeAddr(c.Name()) }

type pipeAddr string

func (pipeAddr) Network() string  { return "pipe" }
func (a pipeAddr) String() string { return string(a) }

// Open opens pipe as a client (overlapped, identification-level impersonation only) and returns its
// handle; see Dial.
func Open(pipe string) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(pipe)
	if err != nil {
		return windows.InvalidHandle, err
	}
	return windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
}

// Dial opens pipe as a client, retrying briefly while every instance is busy. Errors are Windows' own
// (ERROR_FILE_NOT_FOUND: nobody serves it; ERROR_ACCESS_DENIED: its DACL refuses this account).
func Dial(ctx context.Context, pipe string) (*Conn, error) {
	var h windows.Handle
	var err error
	for range 20 { // a busy pipe frees within milliseconds; bounded
		if h, err = Open(pipe); !errors.Is(err, windows.ERROR_PIPE_BUSY) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, err
	}
	return &Conn{File: os.NewFile(uintptr(h), pipe), h: h}, nil
}

// ClientUser is the account of the process at the client end of the server instance c.
func ClientUser(c *Conn) (*windows.SID, error) {
	var pid uint32
	if err := windows.GetNamedPipeClientProcessId(c.h, &pid); err != nil {
		return nil, err
	}
	return ProcessUser(pid)
}

// ServerUser is the account of the process serving the pipe c is connected to, and its pid.
func ServerUser(c *Conn) (*windows.SID, uint32, error) {
	var pid uint32
	if err := windows.GetNamedPipeServerProcessId(c.h, &pid); err != nil {
		return nil, 0, err
	}
	u, err := ProcessUser(pid)
	return u, pid, err
}

// Owner is the owner of the pipe c is connected to.
func Owner(c *Conn) (*windows.SID, error) {
	sd, err := windows.GetSecurityInfo(c.h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return nil, err
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return nil, err
	}
	if owner == nil {
		return nil, errors.New("the pipe has no owner")
	}
	return owner.Copy()
}

// ProcessUser is the account process pid runs as.
func ProcessUser(pid uint32) (*windows.SID, error) {
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

// CurrentUser is this process's account.
func CurrentUser() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid.Copy()
}

// AccountSID resolves an account name or SID string (S-1-...).
func AccountSID(account string) (*windows.SID, error) {
	if len(account) > 4 && (account[:4] == "S-1-" || account[:4] == "s-1-") {
		return windows.StringToSid(account)
	}
	sid, _, _, err := windows.LookupSID("", account)
	return sid, err
}
