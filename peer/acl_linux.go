package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// POSIX ACL xattr encoding (linux/posix_acl_xattr.h): a version, then (tag, perm, id) entries sorted by
// tag and id.
const (
	aclVersion  = 2
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclMask     = 0x10
	aclOther    = 0x20
	aclNoID     = 0xffffffff
)

// letIn gives the accounts uids what they need to reach the socket and nothing more: search (x) on its
// directory, read and write on the socket, as POSIX ACL entries, so that neither needs to be opened to
// a group or to everyone. Mode bits stay as they are (0750 and 0660). An inherited (default) ACL on the
// directory is removed; the socket's access ACL is replaced. The peer uid check stays the gate; this is
// what lets a mapped caller's connect through the file system at all.
func letIn(dir, sock string, uids []int) error {
	if err := setACL(dir, 0o1, uids); err != nil {
		return err
	}
	if err := unix.Removexattr(dir, "system.posix_acl_default"); err != nil && !errors.Is(err, unix.ENODATA) &&
		!errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("peer: removing the default ACL of %s: %w", dir, err)
	}
	return setACL(sock, 0o6, uids)
}

// setACL sets path's access ACL to its mode's owner, group and other permissions plus perm for each uid.
func setACL(path string, perm uint16, uids []int) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	mode := uint16(fi.Mode().Perm())
	owner, group, other := mode>>6&7, mode>>3&7, mode&7
	ids := slices.Clone(uids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	buf := binary.LittleEndian.AppendUint32(nil, aclVersion)
	entry := func(tag, perm uint16, id uint32) {
		buf = binary.LittleEndian.AppendUint16(buf, tag)
		buf = binary.LittleEndian.AppendUint16(buf, perm)
		buf = binary.LittleEndian.AppendUint32(buf, id)
	}
	entry(aclUserObj, owner, aclNoID)
	self := os.Geteuid()
	for _, uid := range ids {
		if uid != self {
			entry(aclUser, perm, uint32(uid))
		}
	}
	entry(aclGroupObj, group, aclNoID)
	entry(aclMask, group|perm, aclNoID)
	entry(aclOther, other, aclNoID)
	if err := unix.Setxattr(path, "system.posix_acl_access", buf, 0); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("peer: the file system of %s has no POSIX ACLs, so the callers' accounts cannot be let in "+
				"to the socket; put unix_socket on a tmpfs such as /run (e.g. /run/systemuser-agent/token.sock)", path)
		}
		return fmt.Errorf("peer: letting the callers' accounts in to %s (POSIX ACL): %w", path, err)
	}
	return nil
}
