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
	if got, want := ConfigDirSDDL(sid), "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;"+sid+")"; got != want {
		t.Errorf("ConfigDirSDDL = %s, want %s", got, want)
	}
	if got, want := StateDirSDDL(sid), "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;"+sid+")"; got != want {
		t.Errorf("StateDirSDDL = %s, want %s", got, want)
	}
	// The DACL our SDDL describes passes our own check, for both roles.
	for _, r := range []Role{RoleConfig, RoleState} {
		v := aclView{IsDir: true, Owner: sidAdministrators, Protected: true, ACEs: []aceView{
			{Allow: true, SID: sidSystem, Mask: fileAllAccess}, {Allow: true, SID: sidAdministrators, Mask: fileAllAccess},
			{Allow: true, SID: sid, Mask: map[Role]uint32{RoleConfig: fileReadExecute, RoleState: fileModify}[r]},
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
			{Allow: true, SID: sidSystem, Mask: fileAllAccess}, {Allow: true, SID: sidAdministrators, Mask: genericAll}, {Allow: true, SID: svc, Mask: fileReadExecute},
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
		{"deny entry for Users", RoleConfig, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: false, SID: users, Mask: fileAllAccess}) }, ""},
		{"service generic read", RoleConfig, func(v *aclView) { v.ACEs[2].Mask = genericRead }, ""},
		{"null DACL", RoleConfig, func(v *aclView) { v.NullDACL = true }, "no DACL"},
		{"inherits from ProgramData", RoleConfig, func(v *aclView) { v.Protected = false }, "inherits permissions"},
		{"Users read", RoleConfig, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: users, Mask: fileGenericRead}) }, "/remove:g *" + users},
		{"Everyone", RoleState, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: everyone, Mask: fileGenericRead}) }, everyone},
		{"CREATOR OWNER", RoleState, func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: creatorOwner, Mask: genericAll}) }, creatorOwner},
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

// TestCheckReplaceable: the service binary and every folder above it may be owned and changed only by
// SYSTEM, Administrators or TrustedInstaller; what Windows gives ordinary users by default on C:\ and
// %ProgramFiles% passes, what would let a user swap the binary or plant a DLL does not.
func TestCheckReplaceable(t *testing.T) {
	const exe, users, auth, creatorOwner = `C:\x\agent.exe`, "S-1-5-32-545", "S-1-5-11", "S-1-3-0"
	admins := []aceView{{Allow: true, SID: sidSystem, Mask: fileAllAccess}, {Allow: true, SID: sidAdministrators, Mask: fileAllAccess}}
	with := func(extra ...aceView) []aceView { return append(append([]aceView{}, admins...), extra...) }
	cases := []struct {
		name string
		v    aclView
		kind exeKind
		want string // "" = accepted
	}{
		{"Program Files binary", aclView{Owner: sidTrustedInstaller, ACEs: with(aceView{Allow: true, SID: users, Mask: fileReadExecute})}, exeFile, ""},
		{"C:\\ root as Windows sets it", aclView{IsDir: true, Owner: sidTrustedInstaller, ACEs: with(
			aceView{Allow: true, SID: auth, Mask: fileAppendData},                        // create folders
			aceView{Allow: true, SID: auth, Mask: fileModify, InheritOnly: true},         // for the folders they create
			aceView{Allow: true, SID: creatorOwner, Mask: genericAll, InheritOnly: true}, // likewise
			aceView{Allow: true, SID: users, Mask: fileReadExecute})}, exeAncestor, ""},
		{"folder a user created under C:\\", aclView{IsDir: true, Owner: "S-1-5-21-1-2-3-1001", ACEs: with()}, exeFolder, "is owned by S-1-5-21-1-2-3-1001"},
		{"inherited Modify for Authenticated Users", aclView{IsDir: true, Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: auth, Mask: fileModify})}, exeFolder, "gives S-1-5-11"},
		{"users may add files next to the binary (DLL planting)", aclView{IsDir: true, Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: users, Mask: fileWriteData | fileReadExecute})}, exeFolder, "rights 0x2"},
		{"users may add files further up (harmless)", aclView{IsDir: true, Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: users, Mask: fileWriteData | fileAppendData | fileReadExecute})}, exeAncestor, ""},
		{"users may delete entries further up", aclView{IsDir: true, Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: users, Mask: fileDeleteChild})}, exeAncestor, "rights 0x40"},
		{"generic write on the binary", aclView{Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: users, Mask: genericWrite})}, exeFile, "gives S-1-5-32-545"},
		{"deny entries only take away", aclView{Owner: sidAdministrators, ACEs: with(aceView{Allow: false, SID: users, Mask: fileAllAccess})}, exeFile, ""},
		{"WRITE_DAC for a user", aclView{Owner: sidAdministrators, ACEs: with(aceView{Allow: true, SID: users, Mask: accessWriteDAC})}, exeFile, "rights 0x40000"},
		{"no DACL", aclView{Owner: sidAdministrators, NullDACL: true}, exeFile, "no DACL"},
	}
	for _, tc := range cases {
		err := checkReplaceable("service executable", exe, `C:\x`, tc.v, tc.kind)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case err != nil && (!strings.Contains(err.Error(), "icacls") || !strings.Contains(err.Error(), exe)):
			t.Errorf("%s: no fix in %v", tc.name, err)
		}
	}
}

// TestNormalizeStartName: the service manager's spellings of the service account resolve.
func TestNormalizeStartName(t *testing.T) {
	for in, want := range map[string]string{
		"LocalSystem": sidSystem, "": sidSystem, `.\svc-agent`: "svc-agent",
		`NT SERVICE\systemuser-agent`: `NT SERVICE\systemuser-agent`, `CORP\gmsa-agent$`: `CORP\gmsa-agent$`,
	} {
		if got := normalizeStartName(in); got != want {
			t.Errorf("normalizeStartName(%q) = %q, want %q", in, got, want)
		}
	}
}
