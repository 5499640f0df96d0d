package callersecret

import (
	"strings"
	"testing"
)

// TestJudgeSecretDir: the Windows caller-secret folder passes only as the agent creates it (or
// stricter): a real, protected folder owned by SYSTEM or Administrators, every allow ACE SYSTEM's,
// Administrators' or Authenticated Users' traverse. Each refusal names what is wrong and the fix.
func TestJudgeSecretDir(t *testing.T) {
	const user = "S-1-5-21-1-2-3-1001"
	good := func() dirView {
		return dirView{Owner: sidAdministrators, Protected: true, ACEs: []aceView{
			{Allow: true, SID: sidSystem, Mask: 0x1f01ff}, {Allow: true, SID: sidAdministrators, Mask: 0x1f01ff},
			{Allow: true, SID: sidAuthenticatedUsers, Mask: 0x100020}}}
	}
	for _, tc := range []struct {
		name string
		edit func(v *dirView)
		want string // "" = accepted
	}{
		{"as created", func(*dirView) {}, ""},
		{"owned by SYSTEM", func(v *dirView) { v.Owner = sidSystem }, ""},
		{"no traverse for anyone", func(v *dirView) { v.ACEs = v.ACEs[:2] }, ""},
		{"a deny ACE", func(v *dirView) { v.ACEs = append(v.ACEs, aceView{Deny: true, SID: "S-1-1-0", Mask: 0x1f01ff}) }, ""},
		{"traverse and read attributes", func(v *dirView) { v.ACEs[2].Mask = traverseOnly }, ""},
		{"junction", func(v *dirView) { v.Reparse = true }, "junction or symbolic link"},
		{"a file", func(v *dirView) { v.NotDir = true }, "not a folder"},
		{"null DACL", func(v *dirView) { v.NullDACL = true }, "no DACL"},
		{"inherits", func(v *dirView) { v.Protected = false }, "protected DACL"},
		{"owned by a user", func(v *dirView) { v.Owner = user }, "owned by " + user},
		{"owned by nobody known", func(v *dirView) { v.Owner = "" }, "owned by"},
		{"users may list", func(v *dirView) { v.ACEs[2].Mask = 0x1200a9 }, "grants S-1-5-11 the rights 0x1200a9"},
		{"users may add files", func(v *dirView) { v.ACEs[2].Mask |= 0x2 }, "S-1-5-11"},
		{"everyone traverses", func(v *dirView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: "S-1-1-0", Mask: 0x100020}) }, "S-1-1-0"},
		{"a user has full control", func(v *dirView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: user, Mask: 0x1f01ff}) }, user},
		{"BUILTIN Users read", func(v *dirView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: "S-1-5-32-545", Mask: 0x120089}) }, "S-1-5-32-545"},
		{"an object ACE", func(v *dirView) { v.ACEs = append(v.ACEs, aceView{SID: "(ACE type 5)", Mask: 0x1}) }, "kind the agent does not give"},
		{"generic all to users", func(v *dirView) { v.ACEs[2].Mask = 0x10000000 }, "S-1-5-11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := good()
			tc.edit(&v)
			err := judgeSecretDir(`C:\ProgramData\systemuser-agent-clients`, v)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), "systemuser-agent-clients"):
				t.Errorf("the error does not name the folder: %v", err)
			}
		})
	}
}
