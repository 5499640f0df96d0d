package callersecret

import "fmt"

// Windows security identifiers and rights the caller-secret folder check knows (winnt.h). They are plain
// values so the judgement runs, and is tested, on every OS.
const (
	sidSystem             = "S-1-5-18"
	sidAdministrators     = "S-1-5-32-544"
	sidAuthenticatedUsers = "S-1-5-11"
	// traverseOnly is all anyone else may have on the folder: FILE_TRAVERSE, FILE_READ_ATTRIBUTES and
	// SYNCHRONIZE, to reach the one file its own DACL lets it read, by name; never to list, add or delete.
	traverseOnly uint32 = 0x20 | 0x80 | 0x100000
)

// aceView is one ACE of the folder's DACL as the check sees it.
type aceView struct {
	// Allow is an access-allowed ACE; Deny an access-denied one; neither is any other type (object,
	// callback), judged as foreign.
	Allow, Deny bool
	SID         string
	Mask        uint32
}

// dirView is the caller-secret folder's security as read through a handle that does not follow links.
type dirView struct {
	Reparse   bool // a junction, symbolic link or other reparse point
	NotDir    bool
	Owner     string
	NullDACL  bool // no DACL: everyone has full control
	Protected bool // SE_DACL_PROTECTED: nothing inherited
	ACEs      []aceView
}

// judgeSecretDir checks the caller-secret folder dir (Windows) as the state folder is checked: a real
// folder, not a link; a protected DACL; owned by SYSTEM or Administrators; and every ACE: full control only
// for SYSTEM and Administrators, at most traverse for Authenticated Users, nothing for anyone else.
// Whoever else could change the folder could replace a caller's secret file or read the next one.
func judgeSecretDir(dir string, v dirView) error {
	fix := fmt.Sprintf("remove the folder %s (it holds only caller secrets) and let `agent clients add` or `agent clients rotate` create it", dir)
	switch {
	case v.Reparse:
		return fmt.Errorf("secret directory %s is a junction or symbolic link, whose target whoever made it controls; give a real folder, or %s", dir, fix)
	case v.NotDir:
		return fmt.Errorf("secret directory %s is not a folder; give a folder for the secret files", dir)
	case v.NullDACL:
		return fmt.Errorf("secret directory %s has no DACL, so everyone has full control; %s", dir, fix)
	case !v.Protected:
		return fmt.Errorf("secret directory %s inherits its permissions, so other accounts may change it; use a directory with a protected DACL, e.g. the default: %s", dir, fix)
	case v.Owner != sidSystem && v.Owner != sidAdministrators:
		return fmt.Errorf("secret directory %s is owned by %s, not SYSTEM or Administrators: its owner can change who may read and replace the secrets; %s", dir, v.Owner, fix)
	}
	for _, a := range v.ACEs {
		switch {
		case a.Deny:
		case !a.Allow:
			return fmt.Errorf("secret directory %s has an ACE of a kind the agent does not give (for %s); %s", dir, a.SID, fix)
		case a.SID == sidSystem || a.SID == sidAdministrators:
		case a.SID == sidAuthenticatedUsers && a.Mask&^traverseOnly == 0:
		default:
			return fmt.Errorf("secret directory %s grants %s the rights 0x%x; only SYSTEM and Administrators may have more than traverse there; %s", dir, a.SID, a.Mask, fix)
		}
	}
	return nil
}
