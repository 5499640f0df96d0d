package installer

import (
	"fmt"
	"path/filepath"
	"runtime"
)

// Role is what the service does with a path, which decides the permissions it must have.
type Role int

const (
	// RoleConfig is the config file and its directory: the service reads them, only root/Administrators
	// (or the service account) may change them. Linux: owner-only (0600 files, 0700 directories),
	// owned by root or the service user. Windows: protected DACL, SYSTEM and Administrators full
	// control, the service account read, nobody else.
	RoleConfig Role = iota
	// RoleState is the state directory: the service writes it. Linux: 0700, owned by root, the service
	// user or (DynamicUser=yes) a dynamic user. Windows: as RoleConfig but the service account may modify.
	RoleState
)

// String names the role as messages do: "config" or "state".
func (r Role) String() string {
	if r == RoleState {
		return "state"
	}
	return "config"
}

// CheckPermissions refuses a path other accounts could read or change (D19): on Linux any group or
// other permission bit, an owner other than root or the service account (o.User, or a dynamic user for
// state under DynamicUser=yes), or a parent directory writable by others without the sticky bit; on
// Windows an unprotected or NULL DACL, a foreign owner, or any access-allowed entry for an account other
// than SYSTEM, Administrators and the service account (limited to read for config, modify for state).
// The error names the path and the command that fixes it. A missing path returns an error wrapping
// os.ErrNotExist.
func CheckPermissions(path string, role Role, o Options) error {
	o = o.withDefaults(runtime.GOOS)
	return checkPermissions(path, role, o)
}

// EnsureDirs creates the config file's directory and the state directory when missing, owner-only
// (Linux 0700; Windows the protected DACLs of ConfigDirSDDL and StateDirSDDL), and checks them when
// present. Setup calls it before it writes the config.
func EnsureDirs(o Options) error {
	o = o.withDefaults(runtime.GOOS)
	if o.ConfigPath == "" {
		return fmt.Errorf("ensure service directories: the config path is empty")
	}
	if err := ensureDir(dirOf(o.ConfigPath), RoleConfig, o); err != nil {
		return err
	}
	return ensureDir(o.StateDir, RoleState, o)
}

// dirOf is the directory holding path.
func dirOf(path string) string { return filepath.Dir(path) }
