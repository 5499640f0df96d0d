//go:build !linux

package peer

import (
	"net"

	"github.com/systemuser-agent/systemuser-agent/agent"
)

// ListenUnix is Linux only (SO_PEERCRED); on Windows use ListenPipe.
func ListenUnix(path string, osUsers []string) (net.Listener, error) {
	return agent.ListenUnixAccounts(path, nil)
}
