package installer

import (
	"fmt"

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
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("enable recovery on error exits for %s: %w", o.Name, err)
	}
	return nil
}
