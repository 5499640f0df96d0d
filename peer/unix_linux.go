package peer

import (
	"fmt"
	"net"
	"os/user"
	"strconv"

	"github.com/systemuser-agent/systemuser-agent/agent"
)

// ListenUnix opens the Unix socket at path (agent.ListenUnixAccounts: a 0750 directory of the agent's
// own, peer uid checked) for the accounts osUsers, each a user name or a numeric uid.
func ListenUnix(path string, osUsers []string) (net.Listener, error) {
	accounts := make(map[int]string, len(osUsers))
	for _, name := range osUsers {
		uid, err := lookupUID(name)
		if err != nil {
			return nil, fmt.Errorf("peer: os_user %q: %w; name an existing account or uid (getent passwd %s)", name, err, name)
		}
		if prev, dup := accounts[uid]; dup && prev != name {
			return nil, fmt.Errorf("peer: os_user %q and %q are the same account (uid %d); write it one way", prev, name, uid)
		}
		accounts[uid] = name
	}
	return agent.ListenUnixAccounts(path, accounts)
}

func lookupUID(name string) (int, error) {
	if uid, err := strconv.Atoi(name); err == nil && uid >= 0 {
		return uid, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return -1, err
	}
	return strconv.Atoi(u.Uid)
}
