package peer

import (
	"fmt"
	"net"
	"os/user"
	"path/filepath"
	"strconv"

	"github.com/systemuser-agent/systemuser-agent/agent"
)

// overflowUID is the uid the kernel shows for an account a user namespace does not map (systemd's
// PrivateUsers=): every such account looks the same, so it names no one.
const overflowUID = 65534

// ListenUnix opens the Unix socket at path (agent.ListenUnixAccounts: a 0750 directory of the agent's
// own, peer uid checked) for the accounts osUsers, each a user name or a numeric uid, and lets those
// accounts in through the file system by ACL (letIn). The overflow uid (nobody, 65534) is refused.
func ListenUnix(path string, osUsers []string) (net.Listener, error) {
	accounts := make(map[int]string, len(osUsers))
	uids := make([]int, 0, len(osUsers))
	for _, name := range osUsers {
		uid, err := lookupUID(name)
		if err != nil {
			return nil, fmt.Errorf("peer: os_user %q: %w; name an existing account or uid (getent passwd %s)", name, err, name)
		}
		if uid == overflowUID {
			return nil, fmt.Errorf("peer: os_user %q is uid %d, the overflow uid every account outside a user "+
				"namespace appears as; run the caller as an account of its own and name that", name, uid)
		}
		if prev, dup := accounts[uid]; dup && prev != name {
			return nil, fmt.Errorf("peer: os_user %q and %q are the same account (uid %d); write it one way", prev, name, uid)
		}
		accounts[uid] = name
		uids = append(uids, uid)
	}
	ln, err := agent.ListenUnixAccounts(path, accounts)
	if err != nil {
		return nil, err
	}
	if err := letIn(filepath.Dir(path), path, uids); err != nil {
		_ = ln.Close()
		return nil, err
	}
	return ln, nil
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
