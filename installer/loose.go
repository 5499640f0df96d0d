package installer

// The permission checks of `agent run` and `agent doctor` (security.md D19). Unlike CheckPermissions,
// which holds an installed service to its exact layout, these judge any setup, a developer's included,
// by one rule: no account but the agent's own, root (SYSTEM, Administrators) may change the config or
// state, and a caller's secret file is readable by its owner only.

import (
	"fmt"
	"slices"
	"strings"
)

// CheckWritable refuses path (the config file, or the state directory) when an account other than the
// current one, root and the trusted accounts (e.g. the service account, when an administrator checks)
// could change it: group- or world-writable, owned by another account, or in a directory such an
// account could write (so it could replace the file). On Linux, systemd's dynamic service users
// (DynamicUser=, uids 61184–65519) count as trusted owners. On Windows: a NULL DACL, an owner other than
// the current account, SYSTEM, Administrators, TrustedInstaller or a trusted account, or an allow entry
// with write rights for another account, on the path or its directory. The error names the path, why,
// and the command that fixes it. A missing path returns an error wrapping os.ErrNotExist.
func CheckWritable(path string, trusted ...string) error { return checkWritable(path, trusted) }

// CheckOwnerOnly refuses a caller's secret file that is not a regular file readable and writable by its
// owner only (Linux mode 0600 or 0400; Windows a protected DACL allowing only the owner, SYSTEM and
// Administrators), or whose owner is not wantOwner (an account name; "" accepts any). It returns the
// file's real owner (an account name, or "uid N" / a SID when it has no name), also on refusal.
func CheckOwnerOnly(path, wantOwner string) (owner string, err error) {
	return checkOwnerOnly(path, wantOwner)
}

// Windows access bits that let an account change a file or what a directory holds.
const (
	fileWriteData   uint32 = 0x0002 // FILE_WRITE_DATA / FILE_ADD_FILE
	fileAppendData  uint32 = 0x0004 // FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
	fileDeleteChild uint32 = 0x0040
	accessDelete    uint32 = 0x00010000
	accessWriteDAC  uint32 = 0x00040000
	accessWriteOwn  uint32 = 0x00080000
	fileReadData    uint32 = 0x0001 // FILE_READ_DATA / FILE_LIST_DIRECTORY
	writeRights            = fileWriteData | fileAppendData | fileDeleteChild | accessDelete | accessWriteDAC | accessWriteOwn

	sidTrustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	sidCreatorOwner     = "S-1-3-0" // only a template for children: grants nothing on the path itself
)

// judgeWritableACL is CheckWritable's rule for one Windows path, given the current account's SID.
func judgeWritableACL(path string, v aclView, self string, trustedSIDs ...string) error {
	fix := fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r *%s:F *%s:F *%s:F`, path, sidSystem, sidAdministrators, self)
	if v.NullDACL {
		return fmt.Errorf("%s has no DACL, so every account can change it (D19); fix: %s", path, fix)
	}
	trusted := func(sid string) bool {
		return sid == self || sid == sidSystem || sid == sidAdministrators || sid == sidTrustedInstaller ||
			slices.Contains(trustedSIDs, sid)
	}
	if !trusted(v.Owner) {
		return fmt.Errorf("%s is owned by %s, not this account, SYSTEM or Administrators: its owner can change it and its permissions (D19); fix: icacls \"%s\" /setowner *%s, then %s",
			path, v.Owner, path, sidAdministrators, fix)
	}
	for _, a := range v.ACEs {
		if !a.Allow || trusted(a.SID) || a.SID == sidCreatorOwner {
			continue
		}
		if m := mapGeneric(a.Mask) & writeRights; m != 0 {
			return fmt.Errorf("%s lets %s change it (rights 0x%x) (D19); fix: icacls \"%s\" /remove:g *%s, or %s",
				path, a.SID, m, path, a.SID, fix)
		}
	}
	return nil
}

// judgeOwnerOnlyACL is CheckOwnerOnly's rule for a Windows secret file; wantSID "" accepts any owner.
func judgeOwnerOnlyACL(path string, v aclView, wantSID string) error {
	fix := fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r *%s:R *%s:F *%s:F`, path, v.Owner, sidSystem, sidAdministrators)
	if v.NullDACL {
		return fmt.Errorf("secret file %s has no DACL, so every account can read it (D19); fix: %s", path, fix)
	}
	if wantSID != "" && !strings.EqualFold(v.Owner, wantSID) {
		return fmt.Errorf("secret file %s is owned by %s, not by the caller's account %s (D19); fix: icacls \"%s\" /setowner *%s, then %s",
			path, v.Owner, wantSID, path, wantSID, fix)
	}
	if !v.Protected {
		return fmt.Errorf("secret file %s inherits permissions from its directory, so others may read it (D19); fix: %s", path, fix)
	}
	for _, a := range v.ACEs {
		if !a.Allow || a.SID == v.Owner || a.SID == sidSystem || a.SID == sidAdministrators {
			continue
		}
		if mapGeneric(a.Mask)&(fileReadData|writeRights) != 0 {
			return fmt.Errorf("secret file %s lets %s read or change it (D19); fix: icacls \"%s\" /remove:g *%s, or %s",
				path, a.SID, path, a.SID, fix)
		}
	}
	return nil
}
