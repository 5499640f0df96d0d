package installer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// mkdirSDDL creates dir with the security descriptor sddl.
func mkdirSDDL(t *testing.T, dir, sddl string) {
	t.Helper()
	sa := securityAttributes(t, sddl)
	p, _ := windows.UTF16PtrFromString(dir)
	if err := windows.CreateDirectory(p, sa); err != nil {
		t.Fatal(err)
	}
}

// createSDDL creates the file path with the security descriptor sddl.
func createSDDL(t *testing.T, path, sddl string) {
	t.Helper()
	sa := securityAttributes(t, sddl)
	p, _ := windows.UTF16PtrFromString(path)
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, 0, sa, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		t.Fatal(err)
	}
	windows.CloseHandle(h)
}

func securityAttributes(t *testing.T, sddl string) *windows.SecurityAttributes {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	sa := &windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(24)
	return sa
}

// TestExecutableCheckReadsTheRealACL: checkExecutable reads the binary's owner and DACL (and those of
// the folders above it) from Windows, and refuses a binary another account controls, and a link. Wine
// neither keeps a file's security descriptor (the creator owns everything) nor enforces one, so an
// accepted install is shown by TestCheckReplaceable and docs/windows-test-plan.md step 17.
func TestExecutableCheckReadsTheRealACL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	mkdirSDDL(t, dir, "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	exe := filepath.Join(dir, "agent.exe")
	createSDDL(t, exe, "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;WD)")
	self, err := currentSID()
	if err != nil {
		t.Fatal(err)
	}
	// Real Windows keeps the SDDL (owner Administrators, Everyone full control); wine ignores it and
	// records this process's account as owner. Either is a binary another account controls.
	err = checkExecutable(exe)
	if err == nil || !(strings.Contains(err.Error(), "gives S-1-1-0") || strings.Contains(err.Error(), "is owned by "+self)) {
		t.Fatalf("a binary Everyone may modify: %v", err)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		v, err := readACL(p)
		t.Logf("%s: owner %s, %d ACEs, protected %v (%v)", p, v.Owner, len(v.ACEs), v.Protected, err)
	}
	link := filepath.Join(dir, "link.exe")
	if err := os.Symlink(exe, link); err != nil {
		t.Logf("no symbolic link under this Windows (%v); the link refusal is not shown", err)
		return
	}
	if _, err := os.Lstat(link); err != nil {
		t.Logf("the symbolic link just made cannot be read back (%v): wine's links are not Windows'; the link refusal is docs/windows-test-plan.md step 17", err)
		return
	}
	if err := checkExecutable(link); err == nil || !strings.Contains(err.Error(), "not a file") {
		t.Errorf("a link to the binary: %v", err)
	}
	if _, err := readACL(link); err == nil || !strings.Contains(err.Error(), "symbolic link or junction") {
		t.Errorf("readACL followed a link: %v", err)
	}
}
