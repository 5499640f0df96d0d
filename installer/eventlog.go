package installer

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
)

// Event ids the agent writes under its Event Log source, one per level.
const (
	eventIDInfo    = 1
	eventIDWarning = 2
	eventIDError   = 3
)

// eventWriter is the part of *eventlog.Log the handler uses.
type eventWriter interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// eventHandler is a slog.Handler that formats each record as one logfmt line (slog's text format,
// without the time, which the Event Log records itself) and writes it as an Event Log entry of the
// record's level: debug and info as Information, warn as Warning, error as Error.
type eventHandler struct {
	w     eventWriter
	inner slog.Handler // text handler writing into buf; WithAttrs/WithGroup derive from it
	mu    *sync.Mutex  // guards buf across all derived handlers
	buf   *bytes.Buffer
}

func newEventHandler(w eventWriter, level slog.Leveler) *eventHandler {
	buf := new(bytes.Buffer)
	inner := slog.NewTextHandler(buf, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	return &eventHandler{w: w, inner: inner, mu: new(sync.Mutex), buf: buf}
}

// Enabled implements slog.Handler.
func (h *eventHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *eventHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.buf.Reset()
	err := h.inner.Handle(ctx, r)
	line := strings.TrimSuffix(h.buf.String(), "\n")
	h.mu.Unlock()
	if err != nil {
		return err
	}
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Error(eventIDError, line)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(eventIDWarning, line)
	default:
		return h.w.Info(eventIDInfo, line)
	}
}

// WithAttrs implements slog.Handler.
func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	return &c
}

// WithGroup implements slog.Handler.
func (h *eventHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	return &c
}

// ServiceLogHandler is where the agent logs: the Event Log under the Windows service (inService), where
// stderr goes nowhere, with the service's own name as the source (EventSource); else fallback (stderr,
// which journald captures under systemd).
func ServiceLogHandler(inService bool, fallback slog.Handler) slog.Handler {
	if inService && runtime.GOOS == "windows" {
		if h, err := EventLogHandler(EventSource()); err == nil {
			return h
		}
	}
	return fallback
}

// sourceOf is the Event Log source of the process pid, given the active services' names and process ids:
// the name of the service running as pid (the source the installer registered for it), else DefaultName.
func sourceOf(names []string, pids []uint32, pid uint32) string {
	for i, p := range pids {
		if p == pid && p != 0 && i < len(names) && names[i] != "" {
			return names[i]
		}
	}
	return DefaultName
}
