package installer

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// currentSID is the SID of the account this process runs as.
func currentSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("read this process's account: %w", err)
	}
	return u.User.Sid.String(), nil
}

func checkWritable(path string, trustedNames []string) error {
	self, err := currentSID()
	if err != nil {
		return err
	}
	var trusted []string
	for _, n := range trustedNames {
		if sid, _, _, err := windows.LookupSID("", n); err == nil {
			trusted = append(trusted, sid.String())
		}
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		v, err := readACL(p)
		if err != nil {
			return fmt.Errorf("check permissions of %s: %w", p, err)
		}
		if err := judgeWritableACL(p, v, self, trusted...); err != nil {
			return err
		}
	}
	return nil
}

func checkOwnerOnly(path, wantOwner string) (string, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("check secret file %s: %w", path, err)
	}
	v, err := readACL(path)
	if err != nil {
		return "", fmt.Errorf("check secret file %s: %w", path, err)
	}
	owner := sidName(v.Owner)
	if !fi.Mode().IsRegular() {
		return owner, fmt.Errorf("secret file %s is not a regular file (D19); fix: make a new secret with `agent clients rotate`", path)
	}
	want := ""
	if wantOwner != "" {
		sid, _, _, err := windows.LookupSID("", wantOwner)
		if err != nil {
			return owner, fmt.Errorf("secret file %s: its caller's account %q is unknown here: %w; fix: set os_user to the account that runs the caller", path, wantOwner, err)
		}
		want = sid.String()
	}
	return owner, judgeOwnerOnlyACL(path, v, want)
}

// sidName is the account name of a SID string, or the SID.
func sidName(s string) string {
	sid, err := windows.StringToSid(s)
	if err != nil {
		return s
	}
	acct, dom, _, err := sid.LookupAccount("")
	if err != nil {
		return s
	}
	if dom != "" {
		return dom + `\` + acct
	}
	return acct
}
