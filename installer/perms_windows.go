package installer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// serviceSID is the SID of the service account: the virtual account's computed SID, or o.User's.
func serviceSID(o Options) (string, error) {
	if o.User == "" {
		return ServiceSID(o.Name), nil
	}
	sid, _, _, err := windows.LookupSID("", o.User)
	if err != nil {
		return "", fmt.Errorf("look up the service account %q: %w", o.User, err)
	}
	return sid.String(), nil
}

// readACL reads path's owner and DACL into the view checkACL judges.
func readACL(path string) (aclView, error) {
	var v aclView
	fi, err := os.Lstat(path)
	if err != nil {
		return v, err
	}
	if fi.Mode()&(os.ModeSymlink|os.ModeIrregular) != 0 {
		// A symbolic link or junction: GetNamedSecurityInfo would judge its target, which whoever can
		// change the link controls.
		return v, fmt.Errorf("%s is a symbolic link or junction; give the real path (links are not followed)", path)
	}
	v.IsDir = fi.IsDir()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return v, fmt.Errorf("read the security descriptor of %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return v, fmt.Errorf("read the owner of %s: %w", path, err)
	}
	if owner != nil {
		v.Owner = owner.String()
	}
	control, _, err := sd.Control()
	if err != nil {
		return v, fmt.Errorf("read the DACL flags of %s: %w", path, err)
	}
	v.Protected = control&windows.SE_DACL_PROTECTED != 0
	dacl, _, err := sd.DACL()
	if err != nil && !errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) {
		return v, fmt.Errorf("read the DACL of %s: %w", path, err)
	}
	if dacl == nil {
		v.NullDACL = true
		return v, nil
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return v, fmt.Errorf("read ACE %d of %s: %w", i, path, err)
		}
		switch ace.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE, windows.ACCESS_DENIED_ACE_TYPE:
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			v.ACEs = append(v.ACEs, aceView{
				Allow:       ace.Header.AceType == windows.ACCESS_ALLOWED_ACE_TYPE,
				SID:         sid.String(),
				Mask:        uint32(ace.Mask),
				InheritOnly: ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0,
			})
		default:
			// Object and callback ACEs do not belong on these paths: judge them as foreign.
			v.ACEs = append(v.ACEs, aceView{Allow: true, SID: fmt.Sprintf("(ACE type %d)", ace.Header.AceType), Mask: uint32(ace.Mask)})
		}
	}
	return v, nil
}

func checkPermissions(path string, r Role, o Options) error {
	sid, err := serviceSID(o)
	if err != nil {
		return err
	}
	v, err := readACL(path)
	if err != nil {
		return fmt.Errorf("%s path %s: %w", r, path, err)
	}
	if err := checkACL(path, v, r, sid); err != nil {
		return err
	}
	if !v.IsDir {
		return nil
	}
	// Whoever may rename or delete a folder above could put another directory in its place.
	return checkAncestors(fmt.Sprintf("%s directory", r), path, exeAncestor)
}

// checkExecutable refuses a service binary that an account other than SYSTEM, Administrators or
// TrustedInstaller could replace: the binary, its folder (no adding files: DLL planting) and every folder
// above it (checkReplaceable), none of them a link or junction.
func checkExecutable(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("service executable %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("service executable %s is not a file (links and junctions are refused): give the real path", path)
	}
	v, err := readACL(path)
	if err != nil {
		return fmt.Errorf("service executable %s: %w", path, err)
	}
	if err := checkReplaceable("service executable", path, path, v, exeFile); err != nil {
		return err
	}
	return checkAncestors("service executable", path, exeFolder)
}

// checkAncestors applies checkReplaceable to every folder above path (a noun), the first as kind, the
// others as exeAncestor, up to the volume's root.
func checkAncestors(noun, path string, kind exeKind) error {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		v, err := readACL(dir)
		if err != nil {
			return fmt.Errorf("folder %s above %s: %w", dir, path, err)
		}
		if err := checkReplaceable(noun, path, dir, v, kind); err != nil {
			return err
		}
		kind = exeAncestor
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}

// ensureDir creates dir with the protected DACL of its role when missing (parents must exist), then
// checks it: a directory someone else created first keeps their entries and is refused (D19).
func ensureDir(dir string, r Role, o Options) error {
	sid, err := serviceSID(o)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			return fmt.Errorf("create the %s directory %s: its parent: %w", r, dir, err)
		}
		sd, err := windows.SecurityDescriptorFromString(roleSDDL(r, sid))
		if err != nil {
			return fmt.Errorf("build the security descriptor for %s: %w", dir, err)
		}
		sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
		sa.Length = uint32(unsafe.Sizeof(*sa))
		p, err := windows.UTF16PtrFromString(dir)
		if err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		if err := windows.CreateDirectory(p, sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			return fmt.Errorf("create the %s directory %s: %w (run as Administrator)", r, dir, err)
		}
	}
	if wineLane {
		return nil // wine does not keep the protected DACL just set: the wine lane's build only (lane_on.go)
	}
	return checkPermissions(dir, r, o)
}
