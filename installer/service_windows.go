package installer

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// beforeInstall creates the state directory with its protected DACL (or checks the one there).
func beforeInstall(o Options) error {
	return ensureDir(o.StateDir, RoleState, o)
}

// afterInstall sets what kardianos does not: three restart actions instead of one, and failure actions
// on a non-zero exit too, so a service that stops itself with an error is restarted like a crash.
func afterInstall(o Options) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager: %w (run as Administrator)", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(o.Name)
	if err != nil {
		return fmt.Errorf("open the new service %s: %w", o.Name, err)
	}
	defer s.Close()
	var actions []mgr.RecoveryAction
	for _, a := range windowsRecoveryActions() {
		t := mgr.NoAction
		if a.Restart {
			t = mgr.ServiceRestart
		}
		actions = append(actions, mgr.RecoveryAction{Type: t, Delay: a.Delay})
	}
	if err := s.SetRecoveryActions(actions, uint32(windowsResetPeriod.Seconds())); err != nil {
		return fmt.Errorf("set the recovery actions of %s: %w", o.Name, err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil && !wineLacks(err) {
		return fmt.Errorf("enable recovery on error exits for %s: %w", o.Name, err)
	}
	if err := leastPrivilege(s); err != nil && !wineLacks(err) {
		return err
	}
	return nil
}

// wineLacks is true for a service setting wine's service manager does not implement
// (ERROR_INVALID_LEVEL), in the wine lane's build only (lane_on.go); never in what ships.
func wineLacks(err error) bool { return wineLane && errors.Is(err, windows.ERROR_INVALID_LEVEL) }

// requiredPrivileges is the one privilege the Windows service keeps (bypass traverse checking, which
// every process needs); the service manager removes the rest from its token.
const requiredPrivileges = "SeChangeNotifyPrivilege"

// leastPrivilege gives the service its own SID explicitly (SERVICE_SID_TYPE_UNRESTRICTED, which the
// directory DACLs name) and drops every privilege but SeChangeNotifyPrivilege: by default a service
// keeps SeImpersonatePrivilege and others it never needs.
func leastPrivilege(s *mgr.Service) error {
	sidInfo := struct{ sidType uint32 }{windows.SERVICE_SID_TYPE_UNRESTRICTED}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_SERVICE_SID_INFO, (*byte)(unsafe.Pointer(&sidInfo))); err != nil {
		return fmt.Errorf("set the service SID type of %s: %w", s.Name, err)
	}
	privs := utf16.Encode([]rune(requiredPrivileges + "\x00\x00")) // a MULTI_SZ: each string, then an empty one
	privInfo := struct{ privileges *uint16 }{&privs[0]}
	if err := windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_REQUIRED_PRIVILEGES_INFO, (*byte)(unsafe.Pointer(&privInfo))); err != nil {
		return fmt.Errorf("limit the privileges of %s to %s: %w", s.Name, requiredPrivileges, err)
	}
	return nil
}

// servicePID is the process id of the running service name as the service manager reports it
// (QueryServiceStatusEx), 0 when it cannot say: what "agent service status" shows, as systemd's MainPID
// on Linux, so a restart can be told from a reload.
func servicePID(name string) int {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT) // least access: status needs no elevation
	if err != nil {
		return 0
	}
	defer windows.CloseServiceHandle(m)
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return 0
	}
	s, err := windows.OpenService(m, n, windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return 0
	}
	defer windows.CloseServiceHandle(s)
	var p windows.SERVICE_STATUS_PROCESS
	var need uint32
	if err := windows.QueryServiceStatusEx(s, windows.SC_STATUS_PROCESS_INFO, (*byte)(unsafe.Pointer(&p)), uint32(unsafe.Sizeof(p)), &need); err != nil {
		return 0
	}
	return int(p.ProcessId)
}

// InstalledAccount is the account the installed service name runs as, as the service manager records
// it (a SID string for LocalSystem); "" when the service is not installed. The key hand-over checks this
// account, so the CLI, the service and the installer agree on one account whatever install was told.
func InstalledAccount(name string) (string, error) {
	m, err := mgr.Connect()
	if err != nil {
		return "", fmt.Errorf("connect to the service control manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return "", nil // not installed (or not visible to this account): the caller uses the default
	}
	defer s.Close()
	// QueryServiceConfig alone: mgr's Config also asks for the description, which not every service
	// manager (wine's) answers.
	buf := make([]uint64, 1024) // 8 KiB, aligned for QUERY_SERVICE_CONFIG
	var need uint32
	qc := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	if err := windows.QueryServiceConfig(s.Handle, qc, uint32(len(buf)*8), &need); err != nil {
		return "", fmt.Errorf("read the configuration of the service %s: %w", name, err)
	}
	return normalizeStartName(windows.UTF16PtrToString(qc.ServiceStartName)), nil
}
