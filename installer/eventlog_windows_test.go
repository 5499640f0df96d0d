package installer

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kardianos/service"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
)

// eventSourceOut marks the test binary's run as a service's process (see TestEventSourceFollowsServiceName).
const eventSourceOut = "eventsource-out="

// TestEventSourceFollowsServiceName: the Event Log source is the service's own name, whatever name it
// was installed under. Installing under a name other than the default registers that source (the
// registry key the Event Log reads) and removing the service removes it; a process the service manager
// starts for a service of another name writes under that name (EventSource); outside a service it is
// DefaultName. Administrator only (wine's prefix is). That Event Viewer shows the entries under the
// source is docs/windows-test-plan.md steps 10 and 19.
func TestEventSourceFollowsServiceName(t *testing.T) {
	if out, ok := strings.CutPrefix(flag.Arg(0), eventSourceOut); ok { // the service's process
		if err := os.WriteFile(out, []byte(EventSource()), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := EventSource(); got != DefaultName {
		t.Errorf("outside a service EventSource = %q, want %q", got, DefaultName)
	}
	m, err := mgr.Connect()
	if err != nil {
		t.Skipf("no access to the service manager (run as administrator): %v", err)
	}
	defer m.Disconnect()
	var b [4]byte
	_, _ = rand.Read(b[:])
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	// Installed by the installer's service definition under another name: that source is registered.
	name := "suagent-evt-" + hex.EncodeToString(b[:])
	o := Options{Name: name, Executable: exe, ConfigPath: filepath.Join(dir, "config.yaml"), StateDir: filepath.Join(dir, "state")}.withDefaults("windows")
	cfg := kardianosConfig(o)
	if winelane.Active { // wine's service manager refuses delayed start and recovery ("Invalid level")
		cfg.Option = service.KeyValue{}
	}
	s, err := service.New(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Install(); err != nil {
		t.Skipf("cannot install a service here (run as administrator): %v", err)
	}
	removed := false
	defer func() {
		if !removed {
			_ = s.Uninstall()
		}
	}()
	key := `SYSTEM\CurrentControlSet\Services\EventLog\Application\` + name
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE); err != nil {
		t.Errorf("no Event Log source %s after install: %v", name, err)
	} else {
		k.Close()
	}
	if l, err := eventlog.Open(name); err != nil {
		t.Errorf("open the Event Log source %s: %v", name, err)
	} else {
		if err := l.Info(eventIDInfo, "TestEventSourceFollowsServiceName"); err != nil {
			t.Errorf("write under %s: %v", name, err)
		}
		l.Close()
	}
	if err := s.Uninstall(); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	removed = true
	if k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE); err == nil {
		k.Close()
		t.Errorf("the Event Log source %s is still registered after uninstall", name)
	}

	// A process the service manager starts for a service named otherwise writes under that name.
	other := name + "-run"
	out := filepath.Join(dir, "source.txt")
	svc, err := m.CreateService(other, exe, mgr.Config{StartType: mgr.StartManual}, "-test.run=^TestEventSourceFollowsServiceName$", "--", eventSourceOut+out)
	if err != nil {
		t.Skipf("cannot create a service here (run as administrator): %v", err)
	}
	defer func() { _ = svc.Delete(); svc.Close() }()
	// The test binary never tells the service manager it runs, so the start may be reported as timed
	// out (wine) or failed: what counts is what the process found.
	_ = svc.Start()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := os.ReadFile(out)
		if err == nil && len(got) > 0 {
			t.Logf("the service %s's process writes under %q", other, got)
			if string(got) != other {
				t.Errorf("the service %s's process writes under %q, want its own name", other, got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service's process wrote nothing to %s within 60 s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
