package installer

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackagedUnitCounts: a unit shipped by the .deb/.rpm in /usr/lib/systemd/system makes the service
// installed for Status (its definition is that file) and for control, uninstall refuses it with the
// package manager as the fix, and a unit written by install takes precedence, as in systemd's lookup.
func TestPackagedUnitCounts(t *testing.T) {
	f := newFixture(t)
	inst, err := New(f.o, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := inst.Status()
	if err != nil || st.Installed || st.State != StateNotInstalled {
		t.Fatalf("before any unit: status %+v, %v; want not installed", st, err)
	}
	vendor := filepath.Join(f.root, VendorUnitDir, f.o.Name+".service")
	if err := os.MkdirAll(filepath.Dir(vendor), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, err := RenderSystemdUnit(f.o)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vendor, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = inst.Status()
	if !errors.Is(err, ErrNoServiceManager) || !st.Installed || st.Definition != vendor {
		t.Fatalf("with the packaged unit: status %+v, %v; want installed, definition %s, and no service manager (offline root)", st, err, vendor)
	}
	if err := inst.Start(); errors.Is(err, ErrNotInstalled) || !errors.Is(err, ErrNoServiceManager) {
		t.Errorf("start with the packaged unit offline: %v; want the no-service-manager error, not not-installed", err)
	}
	err = inst.Uninstall()
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get remove") {
		t.Errorf("uninstall of a packaged unit: %v; want not-installed naming the package manager", err)
	}
	if _, err := os.Stat(vendor); err != nil {
		t.Errorf("uninstall touched the packaged unit: %v", err)
	}
	if err := inst.Install(); err != nil {
		t.Fatal(err)
	}
	if st, _ = inst.Status(); st.Definition != f.unitPath() {
		t.Errorf("after install: definition %s, want the written unit %s", st.Definition, f.unitPath())
	}
	if err := inst.Uninstall(); err != nil {
		t.Fatalf("uninstall of the written unit: %v", err)
	}
	if st, _ = inst.Status(); !st.Installed || st.Definition != vendor {
		t.Errorf("after uninstall: status %+v; the packaged unit remains the definition", st)
	}
}
