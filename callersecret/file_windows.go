package callersecret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
)

// secretDirSDDL is the folder as the agent creates it: owned by Administrators, nothing inherited,
// SYSTEM and Administrators full control, Authenticated Users traverse.
const secretDirSDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x100020;;;AU)"

// owner is the OS account a secret file belongs to.
type owner struct {
	name string
	sid  string
}

// lookupOwner resolves name, an account name (DOMAIN\user, NT SERVICE\x) or a SID string, to one
// account: groups and broad SIDs are refused (winpipe.OneAccount).
func lookupOwner(name string) (owner, error) {
	sid, _, use, err := windows.LookupSID("", name)
	if err != nil && strings.HasPrefix(name, "S-1-") {
		if sid, err = windows.StringToSid(name); err == nil {
			_, _, use, err = sid.LookupAccount("")
		}
	}
	if err != nil {
		return owner{}, fmt.Errorf("OS account %q: %w; name an existing account (the one the caller's software runs as)", name, err)
	}
	if err := winpipe.OneAccount(name, sid.String(), use); err != nil {
		return owner{}, fmt.Errorf("OS account %w; a caller's secret is readable by one account only: name the account the caller's software runs as", err)
	}
	return owner{name: name, sid: sid.String()}, nil
}

// ensureSecretDir creates dir when missing (secretDirSDDL: owned by Administrators, protected, SYSTEM
// and Administrators full control, everyone else nothing but traverse to the file its own DACL lets it
// read), then checks it as it is, new or not (judgeSecretDir).
func ensureSecretDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		sa, err := securityAttributes(secretDirSDDL)
		if err != nil {
			return err
		}
		p, err := windows.UTF16PtrFromString(dir)
		if err != nil {
			return err
		}
		if err := windows.CreateDirectory(p, sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			return fmt.Errorf("create the secret directory %s: %w (run as Administrator)", dir, err)
		}
	}
	v, err := readSecretDir(dir)
	if err != nil {
		return err
	}
	return judgeSecretDir(dir, v)
}

// readSecretDir reads dir's attributes, owner and DACL through one handle opened without following a
// junction or symbolic link (FILE_FLAG_OPEN_REPARSE_POINT), so what is judged is dir itself.
func readSecretDir(dir string) (dirView, error) {
	var v dirView
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return v, err
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return v, fmt.Errorf("open the secret directory %s: %w", dir, err)
	}
	defer windows.CloseHandle(h)
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return v, fmt.Errorf("read the attributes of %s: %w", dir, err)
	}
	v.Reparse = fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0
	v.NotDir = fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return v, fmt.Errorf("read the permissions of %s: %w", dir, err)
	}
	if o, _, err := sd.Owner(); err == nil && o != nil {
		v.Owner = o.String()
	}
	control, _, err := sd.Control()
	if err != nil {
		return v, fmt.Errorf("read the permissions of %s: %w", dir, err)
	}
	v.Protected = control&windows.SE_DACL_PROTECTED != 0
	dacl, _, err := sd.DACL()
	if errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) || err == nil && dacl == nil {
		v.NullDACL = true
		return v, nil
	}
	if err != nil {
		return v, fmt.Errorf("read the DACL of %s: %w", dir, err)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return v, fmt.Errorf("read ACE %d of %s: %w", i, dir, err)
		}
		t := ace.Header.AceType
		a := aceView{Allow: t == windows.ACCESS_ALLOWED_ACE_TYPE, Deny: t == windows.ACCESS_DENIED_ACE_TYPE, Mask: uint32(ace.Mask)}
		if a.Allow || a.Deny {
			a.SID = (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String()
		} else {
			a.SID = fmt.Sprintf("(ACE type %d)", t)
		}
		v.ACEs = append(v.ACEs, a)
	}
	return v, nil
}

// createSecretFile creates dir\name exclusively with a protected DACL: read for acct, full control
// for SYSTEM and Administrators, nothing for anyone else.
func createSecretFile(dir, name string, data []byte, acct owner) (err error) {
	sa, err := securityAttributes(fmt.Sprintf("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;%s)", acct.sid))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, windows.ERROR_FILE_EXISTS) {
		return fmt.Errorf("the secret file %s already exists: a secret is written once; use `agent clients rotate` for a new one, or remove the file", path)
	}
	if err != nil {
		return fmt.Errorf("create the secret file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(h), path)
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write the secret file %s: %w", path, err)
	}
	return f.Sync()
}

func securityAttributes(sddl string) (*windows.SecurityAttributes, error) {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return nil, fmt.Errorf("build the security descriptor %s: %w", sddl, err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	return sa, nil
}
