package installer

// The pure parts of the Windows design (security.md §5), without build tags so they are unit-tested on
// every OS: the service account, its SID, the directory DACLs, the ACL check and the recovery actions.

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf16"
)

// windowsDefaultStateDir is the state directory on Windows: beside, not inside, the config file, so the
// config can be read-only to the service while state is writable.
const windowsDefaultStateDir = `C:\ProgramData\systemuser-agent\state`

// Well-known SIDs.
const (
	sidSystem         = "S-1-5-18"     // NT AUTHORITY\SYSTEM (SDDL SY)
	sidAdministrators = "S-1-5-32-544" // BUILTIN\Administrators (SDDL BA)
)

// File access masks (winnt.h).
const (
	fileAllAccess     uint32 = 0x001F01FF // FA
	fileModify        uint32 = 0x001301BF // read, write, execute, delete
	fileReadExecute   uint32 = 0x001200A9 // read, list, traverse
	fileGenericRead   uint32 = 0x00120089
	fileGenericWrite  uint32 = 0x00120116
	fileGenericExec   uint32 = 0x001200A0
	genericAll        uint32 = 0x10000000
	genericExecute    uint32 = 0x20000000
	genericWrite      uint32 = 0x40000000
	genericRead       uint32 = 0x80000000
	genericRightsMask        = genericAll | genericExecute | genericWrite | genericRead
)

// ServiceAccount is the account the Windows service runs as: o.User, or the virtual account
// NT SERVICE\<Name> (no password; the computer account on the network).
func ServiceAccount(o Options) string {
	if o.User != "" {
		return o.User
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	return `NT SERVICE\` + o.Name
}

// ServiceSID is the SID of the virtual account NT SERVICE\<name>: S-1-5-80 followed by the SHA-1 of the
// upper-cased UTF-16LE service name as five little-endian 32-bit numbers. It exists before the service
// does, so directories can be secured first.
func ServiceSID(name string) string {
	u := utf16.Encode([]rune(strings.ToUpper(name)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	sum := sha1.Sum(b)
	parts := []string{"S-1-5-80"}
	for i := 0; i < 5; i++ {
		parts = append(parts, fmt.Sprint(binary.LittleEndian.Uint32(sum[4*i:])))
	}
	return strings.Join(parts, "-")
}

// ConfigDirSDDL is the owner (Administrators, whoever of them creates it) and protected DACL of the
// config directory: SYSTEM and Administrators full control,
// the service account (SID sid) read and traverse, nobody else; inherited by the files inside.
func ConfigDirSDDL(sid string) string {
	return fmt.Sprintf("O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x%x;;;%s)", fileReadExecute, sid)
}

// StateDirSDDL is the protected DACL of the state directory: as ConfigDirSDDL, but the service account
// may modify (create, write, delete) what is inside.
func StateDirSDDL(sid string) string {
	return fmt.Sprintf("O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x%x;;;%s)", fileModify, sid)
}

func roleSDDL(r Role, sid string) string {
	if r == RoleState {
		return StateDirSDDL(sid)
	}
	return ConfigDirSDDL(sid)
}

// aceView is one ACE as the check sees it.
type aceView struct {
	Allow bool // access-allowed (true) or access-denied (false)
	SID   string
	Mask  uint32
	// InheritOnly: the ACE only passes to children (INHERIT_ONLY_ACE), it grants nothing on this object.
	InheritOnly bool
}

// aclView is a path's security descriptor as the check sees it.
type aclView struct {
	IsDir     bool
	Owner     string
	NullDACL  bool // no DACL at all: everyone has full control
	Protected bool // SE_DACL_PROTECTED: nothing inherited from the parent
	ACEs      []aceView
}

// mapGeneric turns GENERIC_* bits into the file rights they stand for.
func mapGeneric(m uint32) uint32 {
	out := m &^ genericRightsMask
	if m&genericAll != 0 {
		out |= fileAllAccess
	}
	if m&genericRead != 0 {
		out |= fileGenericRead
	}
	if m&genericWrite != 0 {
		out |= fileGenericWrite
	}
	if m&genericExecute != 0 {
		out |= fileGenericExec
	}
	return out
}

// checkACL applies D19 to a Windows path: no NULL DACL; directories protected; owner SYSTEM,
// Administrators (or, for state, the service account); allow entries only for SYSTEM, Administrators and
// the service account, which gets at most read (config) or modify (state).
func checkACL(path string, v aclView, r Role, svcSID string) error {
	fix := windowsFix(path, r, svcSID, v.IsDir)
	if v.NullDACL {
		return fmt.Errorf("%s path %s has no DACL, so everyone has full control (D19); fix: %s", r, path, fix)
	}
	if v.IsDir && !v.Protected {
		return fmt.Errorf("%s directory %s inherits permissions from its parent (%%ProgramData%% lets Users create and read there) (D19); fix: %s", r, path, fix)
	}
	switch {
	case v.Owner == sidSystem, v.Owner == sidAdministrators:
	case r == RoleState && v.Owner == svcSID:
	default:
		return fmt.Errorf("%s path %s is owned by %s, not SYSTEM or Administrators: its owner can change its permissions; fix: icacls \"%s\" /setowner *%s /T, then %s", r, path, v.Owner, path, sidAdministrators, fix)
	}
	allowed := fileReadExecute
	if r == RoleState {
		allowed = fileModify
	}
	for _, a := range v.ACEs {
		if !a.Allow {
			continue // deny entries only take away
		}
		switch a.SID {
		case sidSystem, sidAdministrators:
		case svcSID:
			if extra := mapGeneric(a.Mask) &^ allowed; extra != 0 {
				return fmt.Errorf("%s path %s gives the service account rights 0x%x beyond %s (D19); fix: %s", r, path, extra, accessName(r), fix)
			}
		default:
			return fmt.Errorf("%s path %s gives access to %s, which is neither SYSTEM, Administrators nor the service account (D19); fix: icacls \"%s\" /remove:g *%s, or %s", r, path, a.SID, path, a.SID, fix)
		}
	}
	return nil
}

func accessName(r Role) string {
	if r == RoleState {
		return "modify"
	}
	return "read"
}

// windowsFix is the icacls command that gives path the DACL of roleSDDL.
func windowsFix(path string, r Role, svcSID string, isDir bool) string {
	inherit, svcRight := "", "RX"
	if isDir {
		inherit = "(OI)(CI)"
	}
	if r == RoleState {
		svcRight = "M"
	}
	return fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r *%s:%sF *%s:%sF *%s:%s%s`,
		path, sidSystem, inherit, sidAdministrators, inherit, svcSID, inherit, svcRight)
}

// recoveryAction is one SCM failure action.
type recoveryAction struct {
	Restart bool
	Delay   time.Duration
}

// Windows recovery: restart 5 s after each of the first three failures, count reset after a day, and
// (set after install) failure actions also on a non-zero exit, not only on a crash.
const (
	windowsRestartDelay = 5 * time.Second
	windowsResetPeriod  = 24 * time.Hour
)

func windowsRecoveryActions() []recoveryAction {
	return []recoveryAction{
		{Restart: true, Delay: windowsRestartDelay},
		{Restart: true, Delay: windowsRestartDelay},
		{Restart: true, Delay: windowsRestartDelay},
	}
}

// windowsServiceOptions are kardianos' Windows options: automatic delayed start and restart on failure.
func windowsServiceOptions() map[string]any {
	return map[string]any{
		"StartType":              "automatic",
		"DelayedAutoStart":       true,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": windowsRestartDelay.String(),
		"OnFailureResetPeriod":   int(windowsResetPeriod / time.Second),
	}
}

// darwinServiceOptions make a per-user LaunchAgent (development only: the login keychain is per user).
func darwinServiceOptions() map[string]any {
	return map[string]any{"UserService": true, "KeepAlive": true, "RunAtLoad": true}
}

// fileWriteAttrs is FILE_WRITE_ATTRIBUTES (winnt.h); the other rights are in loose.go.
const fileWriteAttrs uint32 = 0x0100

// replaceRights are, per kind of path on the way to the service binary, the rights that would let their
// holder swap the binary or what it loads, and so run code as the service: on the binary, writing or
// deleting it; on its folder, adding files (DLL planting) or deleting children; on any folder above,
// deleting or renaming entries; everywhere, changing the DACL or the owner. Adding a subfolder to a
// folder above (what Authenticated Users may do at C:\) changes nothing on the way.
func replaceRights(kind exeKind) uint32 {
	base := accessDelete | accessWriteDAC | accessWriteOwn
	switch kind {
	case exeFile:
		return base | fileWriteData | fileAppendData | fileWriteAttrs
	case exeFolder:
		return base | fileWriteData | fileDeleteChild
	}
	return base | fileDeleteChild
}

// exeKind is where a path is on the way to the service binary.
type exeKind int

const (
	exeFile     exeKind = iota // the binary itself
	exeFolder                  // the folder holding it
	exeAncestor                // a folder further up
)

// trustedWriter reports the accounts that may own or change the way to the service binary.
func trustedWriter(sid string) bool {
	return sid == sidSystem || sid == sidAdministrators || sid == sidTrustedInstaller
}

// checkReplaceable refuses a path on the way to target (the service binary, or a directory the service
// trusts; noun says which) that an account other than SYSTEM, Administrators or TrustedInstaller owns
// or could change (see replaceRights).
func checkReplaceable(noun, target, path string, v aclView, kind exeKind) error {
	what := noun
	if kind != exeFile {
		what = "folder " + path + " above the " + noun
	}
	fix := fmt.Sprintf(`move it under a folder only administrators can change (%%ProgramFiles%%, %%ProgramData%%), or run icacls "%s" /setowner *%s and remove the other accounts' write rights`, path, sidAdministrators)
	if v.NullDACL {
		return fmt.Errorf("%s %s has no DACL, so every account can replace %s and run code as the service; %s", what, path, target, fix)
	}
	if !trustedWriter(v.Owner) {
		return fmt.Errorf("%s %s is owned by %s, not SYSTEM, Administrators or TrustedInstaller: its owner can change it and so replace %s, running code as the service; %s", what, path, v.Owner, target, fix)
	}
	for _, a := range v.ACEs {
		if !a.Allow || a.InheritOnly || trustedWriter(a.SID) {
			continue
		}
		if bad := mapGeneric(a.Mask) & replaceRights(kind); bad != 0 {
			return fmt.Errorf("%s %s gives %s rights 0x%x that let it replace %s and run code as the service; %s", what, path, a.SID, bad, target, fix)
		}
	}
	return nil
}

// Account names the identity the service of o runs as, for messages: o.User, a systemd DynamicUser on
// Linux, ServiceAccount on Windows, the user's own account on macOS.
func Account(o Options) string {
	switch {
	case o.User != "":
		return o.User
	case runtime.GOOS == "linux":
		return "a systemd DynamicUser"
	case runtime.GOOS == "windows":
		return ServiceAccount(o)
	default:
		return "your own account (a LaunchAgent; development only)"
	}
}

// normalizeStartName turns the service manager's account names into ones LookupAccountName resolves:
// LocalSystem (and an empty name, which means it) is SYSTEM's SID, ".\user" is a local account.
func normalizeStartName(n string) string {
	switch {
	case n == "", strings.EqualFold(n, "LocalSystem"):
		return sidSystem
	case strings.HasPrefix(n, `.\`):
		return n[2:]
	}
	return n
}
