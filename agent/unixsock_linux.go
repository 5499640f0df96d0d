package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/systemuser-agent/systemuser-agent/internal/peercred"
)

// ListenUnix opens the kernel-attested alternative transport (D10): a Unix socket at path inside a
// directory only the agent's account owns (created 0750 if missing; refused if it is group- or
// world-writable, world-readable or owned by someone else), accepting only connections whose peer uid
// (SO_PEERCRED) is in allowedUIDs. Other peers are disconnected before reading a byte. Callers still
// authenticate with their client secret. A stale socket file is replaced; a live one is an error.
func ListenUnix(path string, allowedUIDs []int) (net.Listener, error) {
	accounts := make(map[int]string, len(allowedUIDs))
	for _, u := range allowedUIDs {
		accounts[u] = ""
	}
	return ListenUnixAccounts(path, accounts)
}

// ListenUnixAccounts is ListenUnix whose connections are AttestedConns: accounts maps each allowed uid
// to the configured os_user it stands for ("" for none), so a caller with that os_user needs no secret
// on the socket (D10). Package peer resolves os_user names to uids.
func ListenUnixAccounts(path string, accounts map[int]string) (net.Listener, error) {
	if len(accounts) == 0 {
		return nil, errors.New("agent: no uid may use the Unix socket; name the callers' uids")
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("agent: Unix socket path %q must be absolute", path)
	}
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o750); err == nil {
		if err := os.Chmod(dir, 0o750); err != nil {
			return nil, fmt.Errorf("agent: setting mode 0750 on %s: %w", dir, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("agent: creating the socket directory %s: %w", dir, err)
	}
	if err := checkSocketDir(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("agent: %s exists and is not a socket; remove it or pick another path", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("agent: another process serves %s; stop it (the agent never takes over "+
				"a live socket)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("agent: removing the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("agent: listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("agent: setting mode 0660 on %s: %w", path, err)
	}
	allowed := make(map[int]string, len(accounts))
	for u, name := range accounts {
		allowed[u] = name
	}
	return &peerCredListener{UnixListener: ln, allowed: allowed}, nil
}

// checkSocketDir refuses a directory that others could write or list, or that another account owns.
func checkSocketDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("agent: checking the socket directory %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("agent: socket directory %s is not a directory (symlinks are refused)", dir)
	case !ok || int(st.Uid) != os.Geteuid():
		return fmt.Errorf("agent: socket directory %s is owned by another account; it must belong to the "+
			"agent's account (remove it and let the agent create it)", dir)
	case fi.Mode().Perm()&0o027 != 0:
		return fmt.Errorf("agent: socket directory %s has mode %04o; it must be at most 0750 "+
			"(chmod 0750 %s)", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// peerCredListener accepts only peers whose uid is allowed.
type peerCredListener struct {
	*net.UnixListener
	allowed map[int]string // uid → os_user ("" for none)
}

// Accept returns the next connection from an allowed uid, closing the others.
func (l *peerCredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if cred, err := peercred.Of(c); err == nil {
			uid := int(cred.Uid)
			if name, ok := l.allowed[uid]; ok {
				return &uidConn{UnixConn: c, uid: uid, osUser: name}, nil
			}
		}
		_ = c.Close()
	}
}

// uidConn is a Unix socket connection with its peer's uid, so the connection limit can bound each peer
// (D8) and the audit trail can name the OS account (D20).
type uidConn struct {
	*net.UnixConn
	uid    int
	osUser string
}

// OSUser implements AttestedConn.
func (c *uidConn) OSUser() string { return c.osUser }

func (c *uidConn) peerID() string { return "uid:" + strconv.Itoa(c.uid) }
