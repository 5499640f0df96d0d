package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/peercred"
	"golang.org/x/sys/unix"
)

// The Linux reload socket: the counterpart of the Windows hand-over pipe for one job. A service whose key
// and configuration are systemd credentials cannot see new ones (systemd copies them at start, and the
// service user cannot decrypt them), so the unit's ExecReload=+ runs "agent service reload" as root,
// which decrypts them and hands them over on this socket. Both ends check the other: the service takes
// requests from AllowUID only (SO_PEERCRED: root), and the sender talks only to the unit's main process
// (SO_PEERCRED pid = $MAINPID) before anything is sent.

// ListenReloadSocket listens on the Unix socket path (mode 0600) for HandoverServer.Serve; connections
// from a uid other than allowUID (0: root) are answered with a refusal and closed. A stale socket file
// at path is replaced; any other file there is an error.
func ListenReloadSocket(path string, allowUID int) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("keystore: reload socket %s: a %s is in its place; remove it", path, fi.Mode().Type())
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("keystore: reload socket %s: remove the stale socket: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("keystore: reload socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("keystore: reload socket %s: %w", path, err)
	}
	return &peerListener{Listener: ln, allow: allowUID}, nil
}

// peerListener admits connections from one uid.
type peerListener struct {
	net.Listener
	allow int
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		if err == nil && int(cred.Uid) == l.allow {
			return c, nil
		}
		reason := fmt.Sprintf("only uid %d may reload the service (run systemctl reload, or agent service reload as root)", l.allow)
		if err != nil {
			reason = err.Error()
		}
		go refuse(c, reason)
	}
}

// refuse reads the refused peer's request (so it hears the answer instead of a broken pipe), wipes it
// unread, and answers with reason.
func refuse(c net.Conn, reason string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var req handoverRequest
	payload, _ := readFrame(c, &req)
	Wipe(payload)
	_ = writeFrame(c, handoverResponse{Code: "denied", Error: reason}, nil)
}

// DialReloadSocket connects to the service's reload socket at path and, before anything is sent, checks
// that the process serving it is wantPID (the unit's MainPID): a process squatting the socket's name gets
// nothing. wantPID 0 skips the check (tests).
func DialReloadSocket(ctx context.Context, path string, wantPID int) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
		return nil, fmt.Errorf("keystore: the service does not listen on %s (not running, or an agent older than the reload socket): %w", path, ErrUnavailable)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: connect to the reload socket %s: %w", path, err)
	}
	cred, err := peerCred(c)
	if err == nil && wantPID > 0 && int(cred.Pid) != wantPID {
		err = fmt.Errorf("it is served by pid %d, not the service's main process %d: another program may hold it; nothing was sent", cred.Pid, wantPID)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("keystore: reload socket %s: %w", path, err)
	}
	return c, nil
}

// peerCred is the SO_PEERCRED of a Unix connection.
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("not a Unix socket connection (%T)", c)
	}
	return peercred.Of(uc)
}
