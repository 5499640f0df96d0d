//go:build !windows

package config

import (
	"os"
	"syscall"
)

// syncDir fsyncs a directory so a rename in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// giveToDirOwner hands a file root just wrote to the owner of its directory. The state directory of the
// installed service belongs to the service's (dynamic) user; a state file root's CLI wrote there with mode
// 0600 would otherwise be unreadable by the service. Not root, or a root-owned directory: nothing to do.
func giveToDirOwner(path, dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}

// replaceFile renames tmp over path (atomic on POSIX, even while readers hold path open).
func replaceFile(tmp, path string) error { return os.Rename(tmp, path) }

// openRead opens path for reading.
func openRead(path string) (*os.File, error) { return os.Open(path) }
