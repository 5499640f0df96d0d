package installer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
)

// TestLeastPrivilege installs a throwaway service (administrator only), reads its account back
// (InstalledAccount), its process id while stopped (none), and checks what leastPrivilege sets, read back from the service manager: the service SID type and SeChangeNotifyPrivilege as the only
// required privilege. That the token then lacks the others is docs/windows-test-plan.md step 18.
func TestLeastPrivilege(t *testing.T) {
	m, err := mgr.Connect()
	if err != nil {
		t.Skipf("no access to the service manager (run as administrator): %v", err)
	}
	defer m.Disconnect()
	var b [4]byte
	_, _ = rand.Read(b[:])
	exe, _ := os.Executable()
	s, err := m.CreateService("suagent-test-"+hex.EncodeToString(b[:]), exe, mgr.Config{StartType: mgr.StartManual})
	if err != nil {
		t.Skipf("cannot create a service here (run as administrator): %v", err)
	}
	defer func() { _ = s.Delete(); s.Close() }()
	// The account the hand-over checks is the one the service manager records (here LocalSystem).
	if acct, err := InstalledAccount(s.Name); err != nil || acct != sidSystem {
		t.Errorf("InstalledAccount = %q, %v; want %s (LocalSystem)", acct, err, sidSystem)
	}
	if acct, err := InstalledAccount(s.Name + "-missing"); err != nil || acct != "" {
		t.Errorf("InstalledAccount of no service = %q, %v; want empty", acct, err)
	}
	// A service that is not running, or not there, has no process id (a running one's is
	// packaging.TestWineEndToEnd's: it changes with a restart and not with a key switch).
	if pid := servicePID(s.Name); pid != 0 {
		t.Errorf("servicePID of a stopped service = %d, want 0", pid)
	}
	if pid := servicePID(s.Name + "-missing"); pid != 0 {
		t.Errorf("servicePID of no service = %d, want 0", pid)
	}
	if err := leastPrivilege(s); err != nil {
		if winelane.Active && errors.Is(err, windows.ERROR_INVALID_LEVEL) {
			t.Skipf("wine lane: wine's service manager does not implement the SID type and required-privileges settings (%v); docs/windows-test-plan.md step 18", err)
		}
		t.Fatal(err)
	}
	var sidInfo struct{ sidType uint32 }
	var need uint32
	if err := windows.QueryServiceConfig2(s.Handle, windows.SERVICE_CONFIG_SERVICE_SID_INFO, (*byte)(unsafe.Pointer(&sidInfo)), uint32(unsafe.Sizeof(sidInfo)), &need); err != nil {
		t.Fatalf("read the SID type back: %v", err)
	}
	if sidInfo.sidType != windows.SERVICE_SID_TYPE_UNRESTRICTED {
		t.Errorf("SID type %d, want unrestricted", sidInfo.sidType)
	}
	buf := make([]byte, 1024)
	if err := windows.QueryServiceConfig2(s.Handle, windows.SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, &buf[0], uint32(len(buf)), &need); err != nil {
		t.Fatalf("read the privileges back: %v", err)
	}
	p := *(**uint16)(unsafe.Pointer(&buf[0]))
	if got := windows.UTF16PtrToString(p); got != requiredPrivileges {
		t.Errorf("required privileges %q, want %q only", got, requiredPrivileges)
	}
}
