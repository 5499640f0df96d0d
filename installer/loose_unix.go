//go:build !windows

package installer

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

func checkWritable(path string, trustedNames []string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check permissions of %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		if fi, err = os.Stat(path); err != nil {
			return fmt.Errorf("check permissions of %s: %w", path, err)
		}
	}
	self := uint32(os.Geteuid())
	trusted := map[uint32]bool{self: true, 0: true}
	for _, n := range trustedNames {
		if u, err := user.Lookup(n); err == nil {
			if uid, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
				trusted[uint32(uid)] = true
			}
		}
	}
	if err := judgeWritableMode(path, fi, self, trusted, false); err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	dirs := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real)) // a symlinked file: both directories matter
	}
	for _, dir := range dirs {
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("check permissions of %s: %w", dir, err)
		}
		if err := judgeWritableMode(dir, di, self, trusted, true); err != nil {
			return err
		}
	}
	return nil
}

// judgeWritableMode applies CheckWritable's rule to one path; parent says it holds the checked path.
func judgeWritableMode(path string, fi os.FileInfo, self uint32, trusted map[uint32]bool, parent bool) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: cannot read its owner on this system", path)
	}
	what := path
	if parent {
		what = "directory " + path + " (it holds the checked file: whoever can write it can replace the file)"
	}
	mode := fi.Mode()
	if !trusted[st.Uid] && (st.Uid < dynamicUIDMin || st.Uid > dynamicUIDMax) {
		return fmt.Errorf("%s is owned by %s, not by this account (%s) or root: that account can change it (D19); fix: chown %s %s",
			what, uidName(st.Uid), uidName(self), uidName(self), path)
	}
	if mode.Perm()&0o022 != 0 && !(fi.IsDir() && mode&os.ModeSticky != 0) {
		return fmt.Errorf("%s has mode %04o: other accounts can write it (D19); fix: chmod go-w %s",
			what, mode.Perm(), path)
	}
	return nil
}

func checkOwnerOnly(path, wantOwner string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("check secret file %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("check secret file %s: cannot read its owner on this system", path)
	}
	owner := uidName(st.Uid)
	switch {
	case !fi.Mode().IsRegular():
		return owner, fmt.Errorf("secret file %s is not a regular file (%s; symlinks are refused) (D19); fix: make a new secret with `agent clients rotate`", path, fi.Mode().Type())
	case fi.Mode().Perm()&0o077 != 0:
		return owner, fmt.Errorf("secret file %s has mode %04o: other accounts can read or change it (D19); fix: chmod 600 %s, then rotate the secret (`agent clients rotate`) since others may have read it", path, fi.Mode().Perm(), path)
	}
	if wantOwner == "" {
		return owner, nil
	}
	u, err := user.Lookup(wantOwner)
	if err != nil {
		return owner, fmt.Errorf("secret file %s: its caller's account %q is unknown here: %w; fix: set os_user to the account that runs the caller", path, wantOwner, err)
	}
	if u.Uid != strconv.FormatUint(uint64(st.Uid), 10) {
		return owner, fmt.Errorf("secret file %s is owned by %s, not by the caller's account %s (D19); fix: chown %s %s", path, owner, wantOwner, wantOwner, path)
	}
	return owner, nil
}

// uidName is the account name of uid, or "uid N".
func uidName(uid uint32) string {
	s := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(s); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + s
}
