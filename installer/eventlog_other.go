//go:build !windows

package installer

import (
	"errors"
	"log/slog"
)

// EventLogHandler exists only on Windows. Elsewhere the service logs to stderr, which systemd's
// journal (journalctl -u systemuser-agent) and launchd capture.
func EventLogHandler(name string) (slog.Handler, error) {
	return nil, errors.New("the Windows Event Log exists only on Windows: log to stderr, which the journal captures")
}

// ReportFailure does nothing off Windows: the caller prints the error to stderr, which the journal keeps.
func ReportFailure(name string, err error) {}

// EventSource is DefaultName off Windows, where there is no Event Log.
func EventSource() string { return DefaultName }
