package installer

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/windows/svc/eventlog"
)

// EventLogHandler returns a slog.Handler that writes to the Windows Event Log (Application log) under
// the source name, which Install registered. Use it when running under the SCM, where stderr goes
// nowhere. Debug records are dropped; wrap the handler to change that.
func EventLogHandler(name string) (slog.Handler, error) {
	l, err := eventlog.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open the Event Log source %q: %w (is the service installed?)", name, err)
	}
	return newEventHandler(l, slog.LevelInfo), nil
}

// ReportFailure writes why the service failed (or stopped badly) to the Event Log under the source name,
// when this process runs under the service manager, where stderr goes nowhere. Call it for an error
// that ends the service, including one before RunService (a config that does not load). Best effort:
// without an Event Log source nothing is written.
func ReportFailure(name string, err error) {
	if err == nil || Interactive() {
		return
	}
	l, oerr := eventlog.Open(name)
	if oerr != nil {
		return
	}
	defer l.Close()
	_ = l.Error(eventIDError, "the service stopped: "+err.Error())
}
