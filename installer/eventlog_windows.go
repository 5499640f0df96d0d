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
