//go:build !windows

package callersecret

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// owner is the OS account a secret file belongs to.
type owner struct {
	name     string
	uid, gid int
}

func lookupOwner(name string) (owner, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return owner{}, fmt.Errorf("OS account %q: %w; name an existing account (the one the caller's software runs as)", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return owner{}, fmt.Errorf("OS account %q has a non-numeric uid or gid (%s:%s)", name, u.Uid, u.Gid)
	}
	if euid := os.Geteuid(); euid != 0 && euid != uid {
		return owner{}, fmt.Errorf("a secret file for the account %q must be owned by it, which needs root: run as root, or use --print-secret and hand the secret over yourself", name)
	}
	return owner{name: name, uid: uid, gid: gid}, nil
}

// ensureSecretDir creates dir (0711: others may pass through to their own file, not list) when
// missing, and refuses one that an account other than root or us could change.
func ensureSecretDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return fmt.Errorf("create the secret directory %s: %w", dir, err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("secret directory %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("secret directory %s is not a directory", dir)
	case !ok:
		return fmt.Errorf("secret directory %s: cannot read its owner", dir)
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("secret directory %s is owned by uid %d, who could swap the secret file; use a directory owned by root (or you), e.g. the default", dir, st.Uid)
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0:
		return fmt.Errorf("secret directory %s has mode %04o: other accounts could swap the secret file; fix: chmod go-w %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// createSecretFile creates dir/name exclusively (no symlink is followed: os.Root), mode 0400, owned by
// acct, and writes data to it.
func createSecretFile(dir, name string, data []byte, acct owner) (err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open the secret directory %s: %w", dir, err)
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o400)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("the secret file %s%s already exists: a secret is written once; use `agent clients rotate` for a new one, or remove the file", dir, name)
	}
	if err != nil {
		return fmt.Errorf("create the secret file %s%s: %w", dir, name, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write the secret file %s%s: %w", dir, name, cerr)
		}
		if err != nil {
			_ = root.Remove(name)
		}
	}()
	if err := f.Chmod(0o400); err != nil { // the umask may have taken bits away; never added any
		return fmt.Errorf("secret file %s%s: %w", dir, name, err)
	}
	if acct.uid != os.Geteuid() || acct.gid != os.Getegid() {
		if err := f.Chown(acct.uid, acct.gid); err != nil {
			return fmt.Errorf("give the secret file %s%s to %s: %w (run as root)", dir, name, acct.name, err)
		}
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write the secret file %s%s: %w", dir, name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write the secret file %s%s: %w", dir, name, err)
	}
	return nil
}
