package setup

import (
	"strings"
	"testing"
)

// TestFrozenReloadFix: a SIGHUP to a service whose configuration is a systemd credential is answered with
// advice that works for its unit: systemctl reload where the unit has the reload socket's runtime
// directory, and reinstalling (or restarting) where an older unit has none, whose reload is that SIGHUP.
func TestFrozenReloadFix(t *testing.T) {
	cases := []struct {
		runtimeDir   string
		want, reject string
	}{
		{"/run/systemuser-agent", "systemctl reload", "service install"},
		{"", "service install", "systemctl reload"},
	}
	for _, tc := range cases {
		got := frozenReloadFix(tc.runtimeDir)
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.reject) {
			t.Errorf("runtime directory %q: fix %q, want it to name %q and not %q", tc.runtimeDir, got, tc.want, tc.reject)
		}
	}
}
