package setup

import (
	"strings"
	"testing"
)

// TestActivateAdvice: what "agent keys activate" prints after each reload outcome, on Linux and Windows.
// A reload that reached the service names the kid it signs with; one that reached none names the
// command for the service, and for an "agent run" in a terminal what works on that system: SIGHUP on
// Linux, a restart on Windows (a reload reaches only the installed service's hand-over pipe; Windows has
// no kill -HUP).
func TestActivateAdvice(t *testing.T) {
	nw := KeyInfo{Name: "mp", KID: "new-kid"}
	old := &KeyInfo{Name: "mp-previous", KID: "old-kid"}
	for _, tc := range []struct {
		name, goos string
		rl         ReloadOutcome
		want, not  []string
	}{
		{"switched", "windows", ReloadOutcome{Sent: true, KID: "new-kid"},
			[]string{"signs with kid new-kid now (no restart)", "agent keys delete --name mp-previous --yes"}, []string{"No running service", "kill -HUP"}},
		{"old kid still", "linux", ReloadOutcome{Sent: true, KID: "old-kid", Reason: "the config sets kid"},
			[]string{`signs with kid "old-kid", not new-kid. the config sets kid`}, []string{"now (no restart)"}},
		{"old kid, no reason given", "windows", ReloadOutcome{Sent: true, KID: "old-kid"},
			[]string{`signs with kid "old-kid", not new-kid. It kept its key: its log says why`}, []string{"now (no restart)"}},
		{"no service, linux", "linux", ReloadOutcome{Command: "systemctl reload systemuser-agent", Reason: "the service is stopped"},
			[]string{"No running service was reloaded (the service is stopped)", "after: systemctl reload systemuser-agent", "in a terminal: kill -HUP its pid"}, nil},
		{"no service, windows", "windows", ReloadOutcome{Command: "agent service reload", Reason: "the hand-over pipe is not there"},
			[]string{"No running service was reloaded (the hand-over pipe is not there)", "after: agent service reload", "in a terminal: stop it with Ctrl-C and start it again"},
			[]string{"kill", "systemctl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := activateAdvice(tc.goos, "mp", nw, old, tc.rl)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("advice lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("advice says %q:\n%s", n, got)
				}
			}
		})
	}
}
