package config

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested") // created by SaveState
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &State{
		Version: StateVersion,
		System:  SystemState{ID: "314250052_sap-local", InternalID: "8b0c", ClientID: "client-1", Registered: now, Updated: now.Add(time.Hour)},
		SystemUsers: map[string]SystemUserState{
			"default": {RequestID: "r1", Status: "Accepted", SystemUserID: "r1", ConfirmURL: "https://am.ui.tt02.altinn.no/x?id=r1", Updated: now},
			"payroll": {ExternalRef: "payroll", RequestID: "r2", Status: "Timedout", TimedOut: true},
		},
	}
	if err := SaveState(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	data, _ := os.ReadFile(StatePath(dir))
	for _, absent := range []string{`"external_ref": ""`, `"updated": "0001`, `"timed_out": false`} {
		if strings.Contains(string(data), absent) {
			t.Errorf("state file holds %s:\n%s", absent, data)
		}
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(StatePath(dir))
		di, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("modes file %v dir %v, want 0600 and 0700", fi.Mode().Perm(), di.Mode().Perm())
		}
	}
	onlyFiles(t, dir, "state.json")
}

func TestLoadStateMissing(t *testing.T) {
	s, err := LoadState(t.TempDir())
	if err != nil || s.Version != StateVersion || s.SystemUsers == nil || len(s.SystemUsers) != 0 {
		t.Fatalf("LoadState(empty dir) = %+v, %v", s, err)
	}
	s.SystemUsers["x"] = SystemUserState{} // the map is usable
}

func TestStateCorruptLeftUntouched(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"truncated", `{"version":1,"system":{"id":"3142`, "corrupt"},
		{"empty", ``, "corrupt"},
		{"not an object", `[1,2]`, "corrupt"},
		{"trailing data", `{"version":1}{"version":1}`, "extra data"},
		{"no version", `{"system":{"id":"x"}}`, "no valid version"},
		{"newer", `{"version":2}`, "newer agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := StatePath(dir)
			if err := os.WriteFile(p, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadState(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "left untouched") {
				t.Fatalf("LoadState = %v", err)
			}
			if err := SaveState(dir, NewState()); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("SaveState over a %s file = %v", tc.name, err)
			}
			if got, _ := os.ReadFile(p); string(got) != tc.data {
				t.Errorf("state file changed to %q", got)
			}
			onlyFiles(t, dir, "state.json")
		})
	}
}

func TestSaveStateVersion(t *testing.T) {
	dir := t.TempDir()
	s := &State{} // zero version and nil map are filled in
	if err := SaveState(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil || got.Version != StateVersion || got.SystemUsers == nil {
		t.Fatalf("LoadState = %+v, %v", got, err)
	}
	if err := SaveState(dir, &State{Version: 7}); err == nil {
		t.Error("saved a state of an unknown version")
	}
	if err := SaveState(dir, nil); err == nil {
		t.Error("saved nil")
	}
}

// TestAccepted holds the one rule for "is this system user accepted?": status Accepted in any case, and
// not timed out; Unaccepted lists the others in config order, a missing entry included.
func TestAccepted(t *testing.T) {
	for _, tc := range []struct {
		us   SystemUserState
		want bool
	}{
		{SystemUserState{Status: "Accepted"}, true},
		{SystemUserState{Status: "accepted"}, true},
		{SystemUserState{Status: "Accepted", TimedOut: true}, false},
		{SystemUserState{Status: "New"}, false},
		{SystemUserState{Status: "Rejected"}, false},
		{SystemUserState{}, false},
	} {
		if got := tc.us.Accepted(); got != tc.want {
			t.Errorf("%+v.Accepted() = %v, want %v", tc.us, got, tc.want)
		}
	}
	st := &State{SystemUsers: map[string]SystemUserState{"a": {Status: "Accepted"}, "b": {Status: "New"}}}
	got := st.Unaccepted([]SystemUser{{Name: "a"}, {Name: "b"}, {Name: "c"}})
	if strings.Join(got, ",") != "b,c" {
		t.Errorf("Unaccepted = %v, want [b c]", got)
	}
}
