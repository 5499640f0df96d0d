package peer

import (
	"fmt"
	"net"

	"golang.org/x/sys/windows"

	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
)

// callerAccess is what a mapped caller may do on the pipe: read and write data, read attributes and the
// security descriptor, wait on it. Not FILE_CREATE_PIPE_INSTANCE (part of GENERIC_WRITE), so a caller
// cannot add server instances of its own.
const callerAccess = windows.FILE_READ_DATA | windows.FILE_WRITE_DATA | windows.FILE_READ_ATTRIBUTES |
	windows.READ_CONTROL | windows.SYNCHRONIZE

// ListenPipe creates the callers' named pipe name (FILE_FLAG_FIRST_PIPE_INSTANCE, no remote clients),
// owned by this process's account, whose DACL admits SYSTEM, Administrators, this account and the
// accounts osUsers (names or SIDs) and denies network logons. Each connection carries the os_user its
// client process's account matched; a client matching none is disconnected at once.
func ListenPipe(name string, osUsers []string) (net.Listener, error) {
	if len(osUsers) == 0 {
		return nil, fmt.Errorf("peer: no os_user may use the pipe %s; give the callers' accounts (os_user)", name)
	}
	self, err := winpipe.CurrentUser()
	if err != nil {
		return nil, fmt.Errorf("peer: this process's account: %w", err)
	}
	accounts := make(map[string]string, len(osUsers))
	sddl := fmt.Sprintf("O:%sD:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;%s)", self, self)
	for _, u := range osUsers {
		sid, err := winpipe.AccountSID(u)
		if err != nil {
			return nil, fmt.Errorf("peer: os_user %q: %w; name an existing account (DOMAIN\\user) or its SID", u, err)
		}
		if err := refuseBroad(u, sid); err != nil {
			return nil, err
		}
		if prev, dup := accounts[sid.String()]; dup && prev != u {
			return nil, fmt.Errorf("peer: os_user %q and %q are the same account (%s); write it one way", prev, u, sid)
		}
		accounts[sid.String()] = u
		sddl += fmt.Sprintf("(A;;0x%x;;;%s)", uint32(callerAccess), sid)
	}
	ln, err := winpipe.Listen(name, sddl)
	if err != nil {
		return nil, fmt.Errorf("peer: create the pipe %s: %w (is another agent already running, or another program holding the name?)", name, err)
	}
	return &pipeListener{Listener: ln, accounts: accounts}, nil
}

// refuseBroad refuses a group or a broad SID as an os_user (winpipe.OneAccount): the mapping names one
// account.
func refuseBroad(name string, sid *windows.SID) error {
	_, _, use, err := sid.LookupAccount("")
	if err != nil {
		return fmt.Errorf("peer: os_user %q (%s): %w; name an existing account", name, sid, err)
	}
	if err := winpipe.OneAccount(name, sid.String(), use); err != nil {
		return fmt.Errorf("peer: os_user %w; name the one account the caller's software runs as", err)
	}
	return nil
}

// pipeListener accepts only clients whose account is mapped.
type pipeListener struct {
	*winpipe.Listener
	accounts map[string]string // SID → os_user
}

// Accept returns the next connection from a mapped account, closing the others.
func (l *pipeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if sid, err := winpipe.ClientUser(c.(*winpipe.Conn)); err == nil {
			if name, ok := l.accounts[sid.String()]; ok {
				return &pipeConn{Conn: c.(*winpipe.Conn), osUser: name}, nil
			}
		}
		_ = c.Close()
	}
}

// pipeConn is a pipe connection with its client's os_user (agent.AttestedConn).
type pipeConn struct {
	*winpipe.Conn
	osUser string
}

// OSUser implements agent.AttestedConn.
func (c *pipeConn) OSUser() string { return c.osUser }
