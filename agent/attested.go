package agent

import (
	"net"
)

// AttestedConn is a connection whose peer's OS account the listener learned from the OS (D10): the uid
// of a Unix socket peer (SO_PEERCRED), the account of a named pipe client (its process token). The
// listener maps that account to a configured os_user; a caller configured with that os_user then needs
// no secret on this connection. Listeners outside agent (package peer) return such connections; the
// agent itself knows nothing of how the OS names accounts.
type AttestedConn interface {
	net.Conn
	// OSUser is the configured os_user the peer's account matched, exactly as written in the config;
	// "" when it matched none.
	OSUser() string
}

// attestedCaller returns the caller the connection's OS account maps to (D10), or nil: the caller
// with that os_user named by client_id (Basic or form), or, without client_id, the only one with it.
func attestedCaller(tc *trackedConn, form *oauthForm, creds *credentials, found bool, callers *callerTable) *caller {
	if tc == nil || tc.osUser == "" {
		return nil
	}
	id := string(form.get(fieldClientID)) // attested connections are rare: the conversion is fine
	if found {
		id = string(creds.id)
	}
	return callers.byOSUser(tc.osUser, id)
}
