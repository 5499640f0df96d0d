//go:build !windows

package installer

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// systemd's DynamicUser= range (61184–65519).
const dynamicUIDMin, dynamicUIDMax = 61184, 65519

// owners returns the uids allowed to own a path of role r, and whether dynamic users are allowed.
func owners(r Role, o Options) (map[uint32]string, bool, error) {
	ok := map[uint32]string{0: "root"}
	if o.User != "" {
		u, err := user.Lookup(o.User)
		if err != nil {
			return nil, false, fmt.Errorf("look up the service user %q: %w (create it, or leave the user empty for DynamicUser=yes)", o.User, err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return nil, false, fmt.Errorf("service user %q has a non-numeric uid %q", o.User, u.Uid)
		}
		ok[uint32(uid)] = o.User
	}
	return ok, r == RoleState && o.User == "", nil
}

func checkPermissions(path string, r Role, o Options) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s path %s: %w", r, path, err)
	}
	allowed, dynamic, err := owners(r, o)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s path %s: cannot read its owner on this system", r, path)
	}
	mode := fi.Mode()
	switch {
	case fi.IsDir():
		if mode.Perm()&0o077 != 0 {
			return fmt.Errorf("%s directory %s has mode %04o, open to other users (D19); fix: chmod 700 %s", r, path, mode.Perm(), path)
		}
	case mode.IsRegular():
		if mode.Perm()&0o077 != 0 {
			return fmt.Errorf("%s file %s has mode %04o, readable or writable by other users (D19); fix: chmod 600 %s", r, path, mode.Perm(), path)
		}
	default:
		return fmt.Errorf("%s path %s is neither a regular file nor a directory (%s)", r, path, mode.Type())
	}
	if _, ok := allowed[st.Uid]; !ok && !(dynamic && st.Uid >= dynamicUIDMin && st.Uid <= dynamicUIDMax) {
		return fmt.Errorf("%s path %s is owned by uid %d, which is neither root nor the service user: another account could change it; fix: chown root:root %s", r, path, st.Uid, path)
	}
	return checkParents(path, allowed)
}

// checkParents refuses a parent directory that others could write (so they could swap path) unless it
// has the sticky bit, or one owned by an account other than root or the service user.
func checkParents(path string, allowed map[uint32]string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("check parent directory %s: %w", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("parent directory %s: cannot read its owner on this system", dir)
		}
		if _, ok := allowed[st.Uid]; !ok {
			return fmt.Errorf("parent directory %s of %s is owned by uid %d, not root: its owner could replace %s; fix: chown root %s", dir, path, st.Uid, path, dir)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("parent directory %s of %s has mode %04o, writable by other users who could replace it; fix: chmod go-w %s", dir, path, fi.Mode().Perm(), dir)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// checkExecutable refuses a service binary that an account other than root could replace: a service
// runs whatever that file holds.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("service executable %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("service executable %s is not an executable file", path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("service executable %s: cannot read its owner on this system", path)
	}
	root := map[uint32]string{0: "root"}
	if _, ok := root[st.Uid]; !ok {
		return fmt.Errorf("service executable %s is owned by uid %d, not root: that account could replace what the service runs; fix: install it root-owned, e.g. install -o root -m 755 agent /usr/local/bin/%s", path, st.Uid, DefaultName)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("service executable %s has mode %04o, writable by other users; fix: chmod go-w %s", path, fi.Mode().Perm(), path)
	}
	return checkParents(path, root)
}

// ensureDir creates dir owner-only (parents 0755) if missing, then checks it.
func ensureDir(dir string, r Role, o Options) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create %s: %w (run as root)", filepath.Dir(dir), err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create the %s directory %s: %w (run as root)", r, dir, err)
		}
	}
	return checkPermissions(dir, r, o)
}
