package installer

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder stands in for *eventlog.Log.
type recorder struct {
	mu      sync.Mutex
	entries []string
}

func (r *recorder) add(kind string, eid uint32, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, fmt.Sprintf("%s %d %s", kind, eid, msg))
	return nil
}
func (r *recorder) Info(eid uint32, msg string) error    { return r.add("info", eid, msg) }
func (r *recorder) Warning(eid uint32, msg string) error { return r.add("warning", eid, msg) }
func (r *recorder) Error(eid uint32, msg string) error   { return r.add("error", eid, msg) }

func TestEventHandler(t *testing.T) {
	rec := &recorder{}
	log := slog.New(newEventHandler(rec, slog.LevelInfo))
	log.Debug("dropped")
	log.Info("started", "listen", "127.0.0.1:7070")
	log.With("client", "sap").WithGroup("upstream").Warn("slow", "ms", 900)
	log.Error("token fetch failed", "code", "invalid_grant")
	want := []string{
		`info 1 level=INFO msg=started listen=127.0.0.1:7070`,
		`warning 2 level=WARN msg=slow client=sap upstream.ms=900`,
		`error 3 level=ERROR msg="token fetch failed" code=invalid_grant`,
	}
	if strings.Join(rec.entries, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(rec.entries, "\n"), strings.Join(want, "\n"))
	}
}

// TestEventHandlerConcurrent: derived handlers share one buffer; under -race no entry mixes with another.
func TestEventHandlerConcurrent(t *testing.T) {
	rec := &recorder{}
	base := slog.New(newEventHandler(rec, slog.LevelInfo))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := base.With("worker", i)
			for j := range 50 {
				l.Info("tick", "n", j)
			}
		})
	}
	wg.Wait()
	if len(rec.entries) != 400 {
		t.Fatalf("%d entries, want 400", len(rec.entries))
	}
	for _, e := range rec.entries {
		if strings.Count(e, "msg=tick") != 1 || strings.Contains(e, "\n") {
			t.Fatalf("mixed entry %q", e)
		}
	}
}

func TestEventLogHandlerElsewhere(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the real Event Log is covered by the Windows manual test plan")
	}
	if _, err := EventLogHandler(DefaultName); err == nil || !strings.Contains(err.Error(), "only on Windows") {
		t.Fatalf("EventLogHandler off Windows: %v, want an error saying it is Windows-only", err)
	}
}

// TestSourceOf: the Event Log source is the name of the service whose process this is; with none (a
// terminal, or a service manager that lists no process id) it is DefaultName.
func TestSourceOf(t *testing.T) {
	names, pids := []string{"Spooler", "acme-agent", "idle"}, []uint32{100, 4242, 0}
	for _, tc := range []struct {
		pid  uint32
		want string
	}{
		{4242, "acme-agent"},
		{100, "Spooler"},
		{7, DefaultName},
		{0, DefaultName}, // a stopped service's pid 0 is nobody's
	} {
		if got := sourceOf(names, pids, tc.pid); got != tc.want {
			t.Errorf("pid %d: %q, want %q", tc.pid, got, tc.want)
		}
	}
	if got := sourceOf(nil, nil, 1); got != DefaultName {
		t.Errorf("no services: %q", got)
	}
}
