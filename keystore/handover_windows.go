//go:build windows

package keystore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"golang.org/x/sys/windows"

	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
)

// handoverRequired: on Windows the CLI must not write its own (the admin's) vault; see doc.go.
const handoverRequired = true

// pipeSDDL owns the pipe by the service account and admits SYSTEM, elevated Administrators and the
// service account (to create further instances), denying network logons. Both %s are the service
// account's SID; the CLI checks the owner before sending anything.
const pipeSDDL = "O:%sD:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;%s)"

// ListenHandoverAt creates the key hand-over pipe ep.Pipe for ServeHandover, owned by this process's
// account, which must be ep.Account (else the CLI would refuse it, so this fails at once and says so).
// It fails if the pipe already exists (another process squatting it, or a second service instance).
func ListenHandoverAt(ep HandoverEndpoint) (net.Listener, error) {
	ep = ep.withDefaults()
	self, err := winpipe.CurrentUser()
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
	ln, err := winpipe.Listen(ep.Pipe, fmt.Sprintf(pipeSDDL, self, self))
	if err != nil {
		return nil, fmt.Errorf("keystore: create the key hand-over pipe %s: %w (is another agent already running, or another program holding the name?)", ep.Pipe, err)
	}
	return ln, nil
}

// dialHandover connects to the service's pipe and checks that both the pipe's owner and the process
// serving it are the service account before anything is sent: a squatter gets nothing.
func dialHandover(ctx context.Context, ep HandoverEndpoint) (net.Conn, error) {
	want, err := accountSID(ep.Account)
	if err != nil {
		return nil, err
	}
	c, err := winpipe.Dial(ctx, ep.Pipe)
	switch {
	case errors.Is(err, windows.ERROR_FILE_NOT_FOUND):
		return nil, fmt.Errorf("keystore: the systemuser-agent service is not running (no %s): keys on Windows are stored by the service in its own Credential Manager vault; start it (agent service start) and retry: %w", ep.Pipe, ErrUnavailable)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return nil, fmt.Errorf("keystore: access to %s denied: run this command from an elevated (Run as administrator) prompt on the machine itself: %w", ep.Pipe, ErrUnavailable)
	case err != nil:
		return nil, fmt.Errorf("keystore: open %s: %w", ep.Pipe, err)
	}
	if err := checkPipeServer(c, ep, want); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkPipeServer verifies that the pipe c is connected to is owned by, and served by a process
// running as, the service account want. Either failing means another program may hold the name.
func checkPipeServer(c *winpipe.Conn, ep HandoverEndpoint, want *windows.SID) error {
	refuse := func(what string, got *windows.SID) error {
		return fmt.Errorf("keystore: %s %s is %s, not the service account %s (%s): another program may be holding the pipe's name; nothing was sent. Stop that program and restart the service (agent service restart)", what, ep.Pipe, got, ep.Account, want)
	}
	owner, err := winpipe.Owner(c)
	if err != nil {
		return fmt.Errorf("keystore: read the owner of %s: %w; nothing was sent", ep.Pipe, err)
	}
	if !owner.Equals(want) {
		return refuse("the owner of", owner)
	}
	user, pid, err := winpipe.ServerUser(c)
	if err != nil {
		return fmt.Errorf("keystore: identify the process serving %s: %w; nothing was sent", ep.Pipe, err)
	}
	if !user.Equals(want) {
		return refuse(fmt.Sprintf("the account of pid %d serving", pid), user)
	}
	return nil
}

// accountSID resolves an account name or SID string; a name that does not resolve is an error, never a
// reason to skip the check.
func accountSID(account string) (*windows.SID, error) {
	if account == "" {
		return nil, errors.New("keystore: no service account named for the key hand-over (a bug in the caller: installer.ServiceAccount names it)")
	}
	sid, err := winpipe.AccountSID(account)
	if err == nil {
		return sid, nil
	}
	if strings.HasPrefix(strings.ToUpper(account), "S-1-") {
		return nil, fmt.Errorf("keystore: service account SID %q: %w", account, err)
	}
	return nil, fmt.Errorf("keystore: look up the service account %q: %w; install the service first (agent service install), or name the account or its SID", account, err)
}
