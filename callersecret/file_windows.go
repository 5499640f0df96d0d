package callersecret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// owner is the OS account a secret file belongs to.
type owner struct {
	name string
	sid  string
}

func lookupOwner(name string) (owner, error) {
	sid, _, _, err := windows.LookupSID("", name)
	if err != nil {
		return owner{}, fmt.Errorf("OS account %q: %w; name an existing account (the one the caller's software runs as)", name, err)
	}
	return owner{name: name, sid: sid.String()}, nil
}

// ensureSecretDir creates dir when missing with a protected DACL (SYSTEM and Administrators full
// control, everyone else nothing but what the file itself grants), and refuses an existing one that
// is not protected.
func ensureSecretDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		// Authenticated users may traverse (not list) so each caller reaches its own file.
		sa, err := securityAttributes("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x100020;;;AU)")
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
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("read the permissions of %s: %w", dir, err)
	}
	control, _, err := sd.Control()
	if err != nil {
		return fmt.Errorf("read the permissions of %s: %w", dir, err)
	}
	if control&windows.SE_DACL_PROTECTED == 0 {
		return fmt.Errorf("secret directory %s inherits its permissions, so other accounts may change it; use a directory with a protected DACL, e.g. the default", dir)
	}
	return nil
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
