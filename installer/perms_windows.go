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
	fi, err := os.Stat(path)
	if err != nil {
		return v, err
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
				Allow: ace.Header.AceType == windows.ACCESS_ALLOWED_ACE_TYPE,
				SID:   sid.String(),
				Mask:  uint32(ace.Mask),
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
	return checkACL(path, v, r, sid)
}

// checkExecutable refuses a service binary that is missing or not a file; its ACL is left to the
// Program Files defaults the installer of the binary set.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("service executable %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("service executable %s is not a file", path)
	}
	return nil
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
	return checkPermissions(dir, r, o)
}
