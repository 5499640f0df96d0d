package sandbox

import (
	"slices"
	"strings"
	"testing"
)

// §9 items 14–16: system users as the vendor sees them, owner deletion, and what Maskinporten matches.

// TestAltinnSystemUserLookups: byquery (404 empty for misses and other vendors) and bysystem (paged;
// 404 AUTH-00011 for another vendor's system), with the §5 fields.
func TestAltinnSystemUserLookups(t *testing.T) {
	e := newAltEnv(t, func(o *Options) { o.PageSize = 2 })
	e.registerSystem()
	var rq requestDTO
	e.postRequest(altRequestBody("payroll")).json(t, 201, &rq)
	altMust(t, e.s.Approve(rq.ID))
	query := "systemuser/vendor/byquery?system-id=" + altSys + "&orgno=" + altOrg

	var u map[string]any
	e.call("GET", query+"&external-ref=payroll", e.mp(altOrg), nil).json(t, 200, &u)
	want := map[string]any{"id": rq.ID, "integrationTitle": "SAP lokal", "systemId": altSys, "productName": "",
		"reporteeOrgNo": altOrg, "created": "2026-07-20T08:00:00.000000Z", "isDeleted": false, "supplierName": "",
		"supplierOrgno": altOrg, "externalRef": "payroll", "userType": "standard"}
	if !altEqualJSON(u, want) {
		t.Fatalf("byquery\n got %v\nwant %v", u, want)
	}
	e.call("GET", query, e.mp(altOrg), nil).empty(t, 404) // no ref = orgno: none
	e.call("GET", query+"&external-ref=Payroll", e.mp(altOrg), nil).empty(t, 404)
	e.call("GET", query+"&external-ref=payroll", e.mp(altOther), nil).empty(t, 404)
	e.call("GET", "systemuser/vendor/byquery?system-id="+altOrg+"_nope&orgno="+altOrg, e.mp(altOrg), nil).empty(t, 404)
	if _, err := e.s.SeedSystemUser(altSys, altOrg, ""); err != nil {
		t.Fatal(err)
	}
	e.call("GET", query, e.mp(altOrg), nil).json(t, 200, &u)
	if u["externalRef"] != altOrg {
		t.Fatalf("no external-ref must find the user with ref = orgno: %v", u)
	}

	for _, ref := range []string{"c", "d"} {
		_, err := e.s.SeedSystemUser(altSys, altOrg, ref)
		altMust(t, err)
	}
	var ids []string
	next, pages := "systemuser/vendor/bysystem/"+altSys, 0
	for next != "" && pages < 10 {
		var page pagedList[systemUserDTO]
		e.call("GET", next, e.mp(altOrg), nil).json(t, 200, &page)
		for _, d := range page.Data {
			ids = append(ids, d.ExternalRef)
		}
		next, pages = page.Links.Next, pages+1
	}
	if !slices.Equal(ids, []string{"payroll", altOrg, "c", "d"}) || pages != 2 {
		t.Fatalf("bysystem paged %v in %d pages", ids, pages)
	}
	e.call("GET", "systemuser/vendor/bysystem/"+altSys, e.mp(altOther), nil).code(t, 404, "AUTH-00011")
	e.call("GET", "systemuser/vendor/bysystem/"+altOrg+"_nope", e.mp(altOrg), nil).code(t, 404, "AUTH-00011")
	if r := e.call("GET", "systemuser/vendor/bysystem/"+altSys+"?token=x", e.mp(altOrg), nil); r.Status != 400 {
		t.Fatalf("bad continuation token: %d", r.Status)
	}
}

// TestAltinnOwnerDeletion: the owner deleting a system user removes it and its request; Maskinporten
// then answers MP-303; a new request and approval yield a new id that works.
func TestAltinnOwnerDeletion(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	var rq requestDTO
	e.postRequest(altRequestBody("")).json(t, 201, &rq)
	if _, errBody := e.systemUserToken(altOrg, ""); !strings.Contains(errBody, "MP-303") {
		t.Fatalf("token while the request is New: %s", errBody)
	}
	altMust(t, e.s.Approve(rq.ID))
	if tok, errBody := e.systemUserToken(altOrg, ""); tok == "" {
		t.Fatalf("token after approval: %s", errBody)
	}

	altMust(t, e.s.DeleteSystemUser(rq.ID))
	if e.s.DeleteSystemUser(rq.ID) == nil {
		t.Error("deleting twice succeeded")
	}
	if _, errBody := e.systemUserToken(altOrg, ""); !strings.Contains(errBody, "MP-303") {
		t.Fatalf("token after owner deletion: %s", errBody)
	}
	e.call("GET", "systemuser/request/vendor/"+rq.ID, e.mp(altOrg), nil).code(t, 404, "AUTH-00010")
	e.call("GET", "systemuser/vendor/byquery?system-id="+altSys+"&orgno="+altOrg, e.mp(altOrg), nil).empty(t, 404)

	var again requestDTO
	e.postRequest(altRequestBody("")).json(t, 201, &again)
	altMust(t, e.s.Approve(again.ID))
	if again.ID == rq.ID {
		t.Fatal("the new approval reused the deleted id")
	}
	if id, _, ok := e.s.altinn.matchSystemUser(altClientID(altOrg), altOrg, altOrg, ""); !ok || id != again.ID {
		t.Fatalf("match = %s %v, want the new id %s", id, ok, again.ID)
	}
	users := e.s.SystemUsers()
	if len(users) != 2 || !users[0].Deleted || users[1].Deleted || users[1].ID != again.ID {
		t.Fatalf("system users: %+v", users)
	}
}

// TestAltinnMatchSystemUser is §6 field by field, and that deleting the system or dropping the client
// from clientId over HTTP breaks it.
func TestAltinnMatchSystemUser(t *testing.T) {
	e := newAltEnv(t)
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altSys, ClientIDs: []string{"c1", "c2"}, Rights: []string{ResourceExample}}))
	def, err := e.s.SeedSystemUser(altSys, altOrg, "")
	altMust(t, err)
	ref, err := e.s.SeedSystemUser(altSys, altOrg, "payroll")
	altMust(t, err)
	var pending requestDTO
	e.postRequest(altRequestBody("pending")).json(t, 201, &pending)
	cases := []struct {
		name                       string
		client, vendor, owner, ref string
		want                       string
	}{
		{"no ref = owner orgno", "c1", altOrg, altOrg, "", def},
		{"ref = owner orgno", "c2", altOrg, altOrg, altOrg, def},
		{"ref", "c1", altOrg, altOrg, "payroll", ref},
		{"ref is case-sensitive", "c1", altOrg, altOrg, "Payroll", ""},
		{"client not on system", "c3", altOrg, altOrg, "", ""},
		{"other vendor", "c1", altOther, altOrg, "", ""},
		{"other owner", "c1", altOrg, altOther, "", ""},
		{"request still New", "c1", altOrg, altOrg, "pending", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, sys, ok := e.s.altinn.matchSystemUser(c.client, c.vendor, c.owner, c.ref)
			if id != c.want || ok != (c.want != "") || (ok && sys != altSys) {
				t.Fatalf("got %q %q %v, want %q", id, sys, ok, c.want)
			}
		})
	}
	t.Run("client dropped by PUT", func(t *testing.T) {
		// The system was seeded without nn/en descriptions; PUT sends a full strict body.
		e.call("PUT", "systemregister/vendor/"+altSys, e.mp(altOrg), altSystemBody(altSys, altOrg, "c2")).json(t, 200, &map[string]bool{})
		if _, _, ok := e.s.altinn.matchSystemUser("c1", altOrg, altOrg, ""); ok {
			t.Fatal("dropped client still matches")
		}
		if _, _, ok := e.s.altinn.matchSystemUser("c2", altOrg, altOrg, ""); !ok {
			t.Fatal("kept client no longer matches")
		}
	})
	t.Run("system deleted", func(t *testing.T) {
		e.call("DELETE", "systemregister/vendor/"+altSys, e.mp(altOrg), nil).json(t, 200, &map[string]bool{})
		if _, _, ok := e.s.altinn.matchSystemUser("c2", altOrg, altOrg, ""); ok {
			t.Fatal("a deleted system's user still matches")
		}
	})
}
