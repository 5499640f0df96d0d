package callersecret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
)

// TestReadSecretDirReadsTheRealACL: the folder check reads the folder's own owner, DACL and attributes
// through a handle, and ensureSecretDir refuses a folder made without the agent's DACL (it inherits
// and is owned by the user who made it); a file is not a folder. Wine makes up a folder's security
// from its Unix mode and makes no junctions, so that a junction is refused, and that the folder the
// agent creates passes, are docs/windows-test-plan.md step 21 (TestJudgeSecretDir judges both).
func TestReadSecretDirReadsTheRealACL(t *testing.T) {
	self, err := currentSID()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "made-by-hand")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := readSecretDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v.Reparse || v.NotDir || v.NullDACL || v.Owner != self || len(v.ACEs) == 0 {
		t.Fatalf("view of a plain folder made by %s: %+v", self, v)
	}
	err = ensureSecretDir(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a folder that inherits and is owned by %s: %v", self, err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := readSecretDir(file); err != nil || !v.NotDir {
		t.Errorf("a file: %+v %v", v, err)
	}
	if winelane.Active {
		return
	}
	fresh := filepath.Join(t.TempDir(), "clients")
	if err := ensureSecretDir(fresh); err != nil {
		t.Errorf("the folder the agent creates: %v", err)
	}
}

// TestLookupOwnerRefusesGroups: --os-user names one account; Everyone, Authenticated Users and BUILTIN
// groups are refused with the reason, this account and a service account pass.
func TestLookupOwnerRefusesGroups(t *testing.T) {
	for _, name := range []string{"Everyone", `BUILTIN\Users`, `BUILTIN\Administrators`, `NT AUTHORITY\Authenticated Users`, "S-1-5-32-545"} {
		if _, err := lookupOwner(name); err == nil || !strings.Contains(err.Error(), "one account") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
		if err := CheckOwner(name); err == nil {
			t.Errorf("CheckOwner(%s) passed", name)
		}
	}
	self, err := currentSID()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{self, `NT AUTHORITY\LOCAL SERVICE`} {
		if _, err := lookupOwner(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func currentSID() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", err
	}
	return u.User.Sid.String(), nil
}
