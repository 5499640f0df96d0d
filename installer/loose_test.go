package installer

import (
	"strings"
	"testing"
)

// TestJudgeWritableACL: the Windows rule of CheckWritable on security descriptors.
func TestJudgeWritableACL(t *testing.T) {
	const self, users, other = "S-1-5-80-1-2-3-4-5", "S-1-5-32-545", "S-1-5-21-9-9-9-1001"
	base := aclView{Owner: sidAdministrators, Protected: true, ACEs: []aceView{
		{Allow: true, SID: sidSystem, Mask: fileAllAccess}, {Allow: true, SID: sidAdministrators, Mask: fileAllAccess},
		{Allow: true, SID: self, Mask: fileModify}}}
	with := func(f func(v *aclView)) aclView {
		v := base
		v.ACEs = append([]aceView(nil), base.ACEs...)
		f(&v)
		return v
	}
	cases := []struct {
		name string
		v    aclView
		want string
	}{
		{"admins, system, self", base, ""},
		{"users may read", with(func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: users, Mask: fileReadExecute}) }), ""},
		{"users may write", with(func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: users, Mask: fileModify}) }), "/remove:g *" + users},
		{"generic write", with(func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: true, SID: users, Mask: genericWrite}) }), "lets " + users},
		{"deny entry only takes away", with(func(v *aclView) { v.ACEs = append(v.ACEs, aceView{Allow: false, SID: users, Mask: fileAllAccess}) }), ""},
		{"creator owner template", with(func(v *aclView) {
			v.ACEs = append(v.ACEs, aceView{Allow: true, SID: sidCreatorOwner, Mask: fileAllAccess})
		}), ""},
		{"foreign owner", with(func(v *aclView) { v.Owner = other }), "/setowner"},
		{"own owner", with(func(v *aclView) { v.Owner = self }), ""},
		{"null DACL", with(func(v *aclView) { v.NullDACL = true }), "no DACL"},
	}
	for _, tc := range cases {
		err := judgeWritableACL(`C:\ProgramData\systemuser-agent\config.yaml`, tc.v, self)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fix: ")):
			t.Errorf("%s: got %v, want an error with %q and a fix", tc.name, err, tc.want)
		}
	}
}

// TestJudgeOwnerOnlyACL: the Windows rule of CheckOwnerOnly for caller secret files.
func TestJudgeOwnerOnlyACL(t *testing.T) {
	const caller, users = "S-1-5-21-1-2-3-1001", "S-1-5-32-545"
	base := aclView{Owner: caller, Protected: true, ACEs: []aceView{
		{Allow: true, SID: caller, Mask: fileGenericRead}, {Allow: true, SID: sidSystem, Mask: fileAllAccess},
		{Allow: true, SID: sidAdministrators, Mask: fileAllAccess}}}
	cases := []struct {
		name string
		v    aclView
		want string // owner wanted
		err  string
	}{
		{"owner only", base, caller, ""},
		{"any owner", base, "", ""},
		{"another owner", base, "S-1-5-21-1-2-3-1002", "/setowner"},
		{"inherited", aclView{Owner: caller, ACEs: base.ACEs}, caller, "inherits"},
		{"users read", aclView{Owner: caller, Protected: true, ACEs: append(append([]aceView(nil), base.ACEs...),
			aceView{Allow: true, SID: users, Mask: fileGenericRead})}, caller, "/remove:g *" + users},
		{"null DACL", aclView{Owner: caller, NullDACL: true}, caller, "no DACL"},
	}
	for _, tc := range cases {
		err := judgeOwnerOnlyACL(`C:\Users\sap\agent-secret`, tc.v, tc.want)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.err)
		}
	}
}
