package installer

import (
	"strings"
	"testing"
	"time"
)

func TestServiceSID(t *testing.T) {
	tests := []struct{ name, want string }{
		// Windows' own: NT SERVICE\TrustedInstaller, documented by Microsoft.
		{"TrustedInstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"},
		// Case does not matter: SCM upper-cases the name first.
		{"trustedinstaller", "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"},
	}
	for _, tc := range tests {
		if got := ServiceSID(tc.name); got != tc.want {
			t.Errorf("ServiceSID(%q) = %s, want %s", tc.name, got, tc.want)
		}
	}
	if a, b := ServiceSID("systemuser-agent"), ServiceSID("systemuser-agent-2"); a == b || !strings.HasPrefix(a, "S-1-5-80-") || strings.Count(a, "-") != 8 {
		t.Errorf("ServiceSID(systemuser-agent) = %s, (…-2) = %s", a, b)
	}
}

func TestServiceAccount(t *testing.T) {
	tests := []struct {
		o    Options
		want string
	}{
		{Options{}, `NT SERVICE\systemuser-agent`},
		{Options{Name: "acme-agent"}, `NT SERVICE\acme-agent`},
		{Options{User: `CORP\svc-agent$`}, `CORP\svc-agent$`},
	}
	for _, tc := range tests {
		if got := ServiceAccount(tc.o); got != tc.want {
			t.Errorf("ServiceAccount(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
}

func TestDirSDDL(t *testing.T) {
	sid := ServiceSID("systemuser-agent")
	if got, want := ConfigDirSDDL(sid), "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;"+sid+")"; got != want {
		t.Errorf("ConfigDirSDDL = %s, want %s", got, want)
	}
	if got, want := StateDirSDDL(sid), "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;"+sid+")"; got != want {
		t.Errorf("StateDirSDDL = %s, want %s", got, want)
	}
	// The DACL our SDDL describes passes our own check, for both roles.
	for _, r := range []Role{RoleConfig, RoleState} {
		v := aclView{IsDir: true, Owner: sidAdministrators, Protected: true, ACEs: []aceView{
			{true, sidSystem, fileAllAccess}, {true, sidAdministrators, fileAllAccess},
			{true, sid, map[Role]uint32{RoleConfig: fileReadExecute, RoleState: fileModify}[r]},
		}}
		if err := checkACL(`C:\ProgramData\systemuser-agent`, v, r, sid); err != nil {
			t.Errorf("%s: the SDDL's own DACL is refused: %v", r, err)
		}
	}
}

func TestCheckACL(t *testing.T) {
	const path = `C:\ProgramData\systemuser-agent`
	svc := ServiceSID("systemuser-agent")
	const users, everyone, creatorOwner = "S-1-5-32-545", "S-1-1-0", "S-1-3-0"
	good := func() aclView {
		return aclView{IsDir: true, Owner: sidAdministrators, Protected: true, ACEs: []aceView{
			{true, sidSystem, fileAllAccess}, {true, sidAdministrators, genericAll}, {true, svc, fileReadExecute},
		}}
	}
	tests := []struct {
		name string
		role Role
		edit func(*aclView)
		want string // "" = accepted
	}{
		{"ours", RoleConfig, func(*aclView) {}, ""},
		{"config file inheriting ours", RoleConfig, func(v *aclView) { v.IsDir, v.Protected = false, false }, ""},
		{"state with modify", RoleState, func(v *aclView) { v.ACEs[2].Mask = fileModify }, ""},
		{"state owned by the service", RoleState, func(v *aclView) { v.Owner = svc }, ""},
		{"deny entry for Users", RoleConfig, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{false, users, fileAllAccess}) }, ""},
		{"service generic read", RoleConfig, func(v *aclView) { v.ACEs[2].Mask = genericRead }, ""},
		{"null DACL", RoleConfig, func(v *aclView) { v.NullDACL = true }, "no DACL"},
		{"inherits from ProgramData", RoleConfig, func(v *aclView) { v.Protected = false }, "inherits permissions"},
		{"Users read", RoleConfig, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{true, users, fileGenericRead}) }, "/remove:g *" + users},
		{"Everyone", RoleState, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{true, everyone, fileGenericRead}) }, everyone},
		{"CREATOR OWNER", RoleState, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{true, creatorOwner, genericAll}) }, creatorOwner},
		{"service modify on config", RoleConfig, func(v *aclView) { v.ACEs[2].Mask = fileModify }, "beyond read"},
		{"service generic write on config", RoleConfig, func(v *aclView) { v.ACEs[2].Mask = genericWrite }, "beyond read"},
		{"service full control on state", RoleState, func(v *aclView) { v.ACEs[2].Mask = fileAllAccess }, "beyond modify"},
		{"owned by a user", RoleConfig, func(v *aclView) { v.Owner = "S-1-5-21-1-2-3-1001" }, "/setowner"},
		{"config owned by the service", RoleConfig, func(v *aclView) { v.Owner = svc }, "not SYSTEM or Administrators"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := good()
			tc.edit(&v)
			err := checkACL(path, v, tc.role, svc)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "icacls") {
				t.Errorf("error gives no fix: %v", err)
			}
		})
	}
}

func TestWindowsFix(t *testing.T) {
	svc := ServiceSID("systemuser-agent")
	got := windowsFix(`C:\ProgramData\systemuser-agent\state`, RoleState, svc, true)
	want := `icacls "C:\ProgramData\systemuser-agent\state" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *` + svc + `:(OI)(CI)M`
	if got != want {
		t.Errorf("windowsFix = %s\nwant        %s", got, want)
	}
	if got := windowsFix(`C:\x\config.yaml`, RoleConfig, svc, false); !strings.HasSuffix(got, "*"+svc+":RX") {
		t.Errorf("config file fix = %s, want read+execute without inheritance", got)
	}
}

func TestWindowsRecovery(t *testing.T) {
	acts := windowsRecoveryActions()
	if len(acts) != 3 {
		t.Fatalf("%d recovery actions, want 3 (first, second, subsequent failures)", len(acts))
	}
	for i, a := range acts {
		if !a.Restart || a.Delay != 5*time.Second {
			t.Errorf("action %d = %+v, want restart after 5s", i, a)
		}
	}
	if windowsResetPeriod != 24*time.Hour {
		t.Errorf("reset period %s, want a day", windowsResetPeriod)
	}
	o := windowsServiceOptions()
	want := map[string]any{
		"StartType": "automatic", "DelayedAutoStart": true, "OnFailure": "restart",
		"OnFailureDelayDuration": "5s", "OnFailureResetPeriod": 86400,
	}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("option %s = %#v, want %#v", k, o[k], v)
		}
	}
	if _, err := time.ParseDuration(o["OnFailureDelayDuration"].(string)); err != nil {
		t.Errorf("kardianos parses OnFailureDelayDuration with time.ParseDuration: %v", err)
	}
}

func TestRoleSDDL(t *testing.T) {
	sid := ServiceSID(DefaultName)
	if roleSDDL(RoleConfig, sid) != ConfigDirSDDL(sid) || roleSDDL(RoleState, sid) != StateDirSDDL(sid) {
		t.Error("roleSDDL does not pick the role's DACL")
	}
}

// TestDarwinServiceOptions: macOS installs a per-user LaunchAgent (development only), kept alive.
func TestDarwinServiceOptions(t *testing.T) {
	o := darwinServiceOptions()
	if o["UserService"] != true || o["KeepAlive"] != true || o["RunAtLoad"] != true {
		t.Errorf("darwin options = %v", o)
	}
}
