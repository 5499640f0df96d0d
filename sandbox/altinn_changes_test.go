package sandbox

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// §9 item 18: change requests (altinn-api.md §4.5).

// changeEnv is altEnv with altSys (rights ResourceExample and ResourceSkatt, package PackageAssignable)
// and one approved system user holding only ResourceExample.
func changeEnv(t *testing.T) (*altEnv, string) {
	t.Helper()
	e := newAltEnv(t)
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altSys, ClientIDs: []string{altClientID(altOrg)},
		Rights: []string{ResourceExample, ResourceSkatt}, AccessPackages: []string{PackageAssignable},
		RedirectURLs: []string{"https://app.example.no/done"}}))
	var rq requestDTO
	e.postRequest(altRequestBody("payroll")).json(t, http.StatusCreated, &rq)
	altMust(t, e.s.Approve(rq.ID))
	return e, rq.ID
}

func (e *altEnv) postChange(org, cid, sid string, body any) altResp {
	e.t.Helper()
	q := url.Values{}
	if cid != "" {
		q.Set("correlation-id", cid)
	}
	if sid != "" {
		q.Set("system-user-id", sid)
	}
	return e.call("POST", "systemuser/changerequest/vendor?"+q.Encode(), e.mp(org), body)
}

func addSkatt() map[string]any {
	return map[string]any{"requiredRights": []any{altRight(ResourceSkatt)}}
}

// TestAltinnChangeRequestLifecycle: 201 + Location with the stored fields; the same correlation id
// returns the stored one with 200 whatever the body; approval adds the right and keeps the id; a
// second approval is 409.
func TestAltinnChangeRequestLifecycle(t *testing.T) {
	e, su := changeEnv(t)
	cid := newUUID()
	r := e.postChange(altOrg, cid, su, addSkatt())
	var got changeDTO
	r.json(t, http.StatusCreated, &got)
	if loc := r.Header.Get("Location"); loc != e.s.AltinnURL()+"/authentication/api/v1/systemuser/changerequest/"+cid {
		t.Errorf("Location = %q", loc)
	}
	want := changeDTO{ID: cid, ExternalRef: "payroll", SystemID: altSys, SystemUserID: su, PartyOrgNo: altOrg,
		RequiredRights: []sysRight{{Resource: []resourceMatch{{ID: "urn:altinn:resource", Value: ResourceSkatt}}}},
		UnwantedRights: []sysRight{}, RequiredAccessPackages: []accessPackage{}, UnwantedAccessPackages: []accessPackage{},
		Status: "New", ConfirmURL: e.s.URL() + "/am/accessmanagement/ui/systemuser/changerequest?id=" + cid + "&DONTCHOOSEREPORTEE=true",
		Created: "2026-07-20T08:00:00.000000Z"}
	if !altEqualJSON(got, want) {
		t.Fatalf("reply\n got %+v\nwant %+v", got, want)
	}
	// Reused correlation id: stored reply, new body and system user id ignored.
	var again changeDTO
	e.postChange(altOrg, cid, su, map[string]any{"unwantedRights": []any{altRight(ResourceExample)}}).json(t, http.StatusOK, &again)
	if !altEqualJSON(again, got) {
		t.Fatalf("re-POST: %+v, want the stored %+v", again, got)
	}
	if n := len(e.s.ChangeRequests()); n != 1 {
		t.Fatalf("%d change requests stored, want 1", n)
	}
	if rights, _, _ := e.s.SystemUserRights(su); !slices.Equal(rights, []string{ResourceExample}) {
		t.Fatalf("before approval the system user holds %v", rights)
	}
	altMust(t, e.s.ApproveChange(cid))
	rights, _, err := e.s.SystemUserRights(su)
	altMust(t, err)
	if !slices.Equal(rights, []string{ResourceExample, ResourceSkatt}) {
		t.Fatalf("after approval the system user holds %v", rights)
	}
	if users := e.s.SystemUsers(); len(users) != 1 || users[0].ID != su {
		t.Fatalf("system users after approval: %+v (the id must be kept)", users)
	}
	e.call("GET", "systemuser/changerequest/vendor/"+cid, e.mp(altOrg), nil).json(t, http.StatusOK, &got)
	if got.Status != "Accepted" {
		t.Fatalf("status after approval = %s", got.Status)
	}
	var ae *AltinnError
	if err := e.s.ApproveChange(cid); !errorsAs(err, &ae) || ae.Code != "AUTH-00013" || ae.Status != 409 {
		t.Fatalf("second approval: %v", err)
	}

	// Unwanted: remove ResourceExample; rights already held in required still give 201 (no compare).
	cid2 := newUUID()
	e.postChange(altOrg, cid2, su, map[string]any{"requiredRights": []any{altRight(ResourceSkatt)},
		"unwantedRights": []any{altRight(ResourceExample)}}).json(t, http.StatusCreated, &got)
	altMust(t, e.s.ApproveChange(cid2))
	if rights, _, _ := e.s.SystemUserRights(su); !slices.Equal(rights, []string{ResourceSkatt}) {
		t.Fatalf("after removing: %v", rights)
	}
	// Packages: add one.
	cid3 := newUUID()
	e.postChange(altOrg, cid3, su, map[string]any{"requiredAccessPackages": []any{map[string]any{"urn": PackageAssignable}}}).json(t, http.StatusCreated, &got)
	altMust(t, e.s.RejectChange(cid3))
	if _, pk, _ := e.s.SystemUserRights(su); len(pk) != 0 {
		t.Fatalf("a rejected change request delegated %v", pk)
	}
}

func errorsAs(err error, ae **AltinnError) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*AltinnError)
	*ae = e
	return ok
}

// TestAltinnChangeRequestDecisionOrder walks steps 1–8 of §4.5 in order.
func TestAltinnChangeRequestDecisionOrder(t *testing.T) {
	e, su := changeEnv(t)
	cid := newUUID()

	// 1. correlation id missing or zero: plain string; not a UUID: validation problem.
	for _, c := range []string{"", zeroUUID} {
		r := e.postChange(altOrg, c, su, addSkatt())
		if r.Status != 400 || strings.HasPrefix(string(r.Body), "{") || len(r.Body) == 0 {
			t.Fatalf("correlation id %q: %d %s, want 400 plain text", c, r.Status, r.Body)
		}
	}
	if codes, _ := e.postChange(altOrg, "nope", su, addSkatt()).vld(t); !slices.Equal(codes, []string{vldBadJSON}) {
		t.Fatalf("non-UUID correlation id: %v", codes)
	}
	// 2. no usable consumer: 401 empty (checked after step 1).
	noConsumer := e.altinnToken(map[string]any{"consumer": nil})
	e.call("POST", "systemuser/changerequest/vendor?correlation-id="+cid+"&system-user-id="+su, noConsumer, addSkatt()).empty(t, 401)
	r := e.call("POST", "systemuser/changerequest/vendor?correlation-id=&system-user-id="+su, noConsumer, addSkatt())
	if r.Status != 400 {
		t.Fatalf("step 1 must come before step 2: %d", r.Status)
	}
	// 3. system user unknown (also: no system-user-id) → 404 AUTH-00015; C = S → 400 string.
	e.postChange(altOrg, cid, newUUID(), addSkatt()).code(t, 404, "AUTH-00015")
	e.postChange(altOrg, cid, "", addSkatt()).code(t, 404, "AUTH-00015")
	if r := e.postChange(altOrg, su, su, addSkatt()); r.Status != 400 || strings.HasPrefix(string(r.Body), "{") {
		t.Fatalf("C = S: %d %s", r.Status, r.Body)
	}
	// 4. another vendor's system user → 401 empty.
	e.postChange(altOther, cid, su, addSkatt()).empty(t, 401)
	// 5. four empty lists → 200 NoChangeNeeded, id = C, confirmUrl "", not stored.
	var nc changeDTO
	e.postChange(altOrg, cid, su, map[string]any{}).json(t, 200, &nc)
	if nc.Status != "NoChangeNeeded" || nc.ID != cid || nc.ConfirmURL != "" || nc.SystemUserID != su {
		t.Fatalf("no change: %+v", nc)
	}
	if len(e.s.ChangeRequests()) != 0 {
		t.Fatal("NoChangeNeeded was stored")
	}
	// Explicit null list: the sandbox refuses it clearly (Altinn fails with a 5xx).
	if codes, _ := e.postChange(altOrg, cid, su, `{"requiredRights":null}`).vld(t); !slices.Equal(codes, []string{vldBadJSON}) {
		t.Fatalf("null list: %v", codes)
	}
	// 7. checks: right not on the system, package not on it / not assignable, redirect.
	e.postChange(altOrg, cid, su, map[string]any{"requiredRights": []any{altRight(ResourceMaskinportenSchema)}}).code(t, 400, "AUTH-00001")
	e.postChange(altOrg, cid, su, map[string]any{"requiredAccessPackages": []any{map[string]any{"urn": PackageClientRelation}}}).code(t, 400, "AUTH-00063")
	e.postChange(altOrg, cid, su, map[string]any{"requiredRights": []any{altRight(ResourceSkatt)}, "redirectUrl": "https://evil.example/x"}).code(t, 400, "AUTH-00021")
	// Unwanted lists are not checked.
	e.postChange(altOrg, cid, su, map[string]any{"unwantedRights": []any{altRight("not-on-the-system")}}).json(t, 201, &nc)
	// 6 vs 7: C held by another vendor → AUTH-00007 while New, 409 AUTH-00061 once decided.
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altOther + "_other", ClientIDs: []string{altClientID(altOther)}, Rights: []string{ResourceExample}}))
	otherSU, err := e.s.SeedSystemUser(altOther+"_other", altOther, "")
	altMust(t, err)
	e.postChange(altOther, cid, otherSU, map[string]any{"requiredRights": []any{altRight(ResourceExample)}}).code(t, 400, "AUTH-00007")
	altMust(t, e.s.RejectChange(cid))
	e.postChange(altOther, cid, otherSU, map[string]any{"requiredRights": []any{altRight(ResourceExample)}}).code(t, 409, "AUTH-00061")
	// Reads by another vendor: AUTH-00011.
	e.call("GET", "systemuser/changerequest/vendor/"+cid, e.mp(altOther), nil).code(t, 404, "AUTH-00011")
	// A deleted change request's id cannot be reused (primary key; 5xx).
	e.call("DELETE", "systemuser/changerequest/vendor/"+cid, e.mp(altOrg), nil).empty(t, 202)
	e.call("GET", "systemuser/changerequest/vendor/"+cid, e.mp(altOrg), nil).code(t, 404, "AUTH-00010")
	if r := e.postChange(altOrg, cid, su, addSkatt()); r.Status != 500 {
		t.Fatalf("reused deleted id: %d %s", r.Status, r.Body)
	}
	// A deleted system user: AUTH-00015 on create and on approval.
	cid2 := newUUID()
	e.postChange(altOrg, cid2, su, addSkatt()).json(t, 201, &nc)
	altMust(t, e.s.DeleteSystemUser(su))
	e.postChange(altOrg, newUUID(), su, addSkatt()).code(t, 404, "AUTH-00015")
	var ae *AltinnError
	if err := e.s.ApproveChange(cid2); !errorsAs(err, &ae) || ae.Code != "AUTH-00015" {
		t.Fatalf("approval after deletion: %v", err)
	}
}

// TestAltinnChangeRequestReads: by id, byexternalref (package lists empty: the inferred reading of
// §4.5), bysystem with paging; FailApprovals keeps it New with AUTH-00001.
func TestAltinnChangeRequestReads(t *testing.T) {
	e, su := changeEnv(t)
	e.s.opts.PageSize = 2
	var ids []string
	for range 3 {
		cid := newUUID()
		var d changeDTO
		e.postChange(altOrg, cid, su, map[string]any{"requiredAccessPackages": []any{map[string]any{"urn": PackageAssignable}}}).json(t, 201, &d)
		ids = append(ids, cid)
	}
	var byRef changeDTO
	e.call("GET", "systemuser/changerequest/vendor/byexternalref/"+altSys+"/"+altOrg+"/payroll", e.mp(altOrg), nil).json(t, 200, &byRef)
	if !slices.Contains(ids, byRef.ID) || len(byRef.RequiredAccessPackages) != 0 {
		t.Fatalf("byexternalref: %+v", byRef)
	}
	var byID changeDTO
	e.call("GET", "systemuser/changerequest/vendor/"+ids[0], e.mp(altOrg), nil).json(t, 200, &byID)
	if len(byID.RequiredAccessPackages) != 1 {
		t.Fatalf("by id lost the packages: %+v", byID)
	}
	var seen []string
	next := "systemuser/changerequest/vendor/bysystem/" + altSys
	for next != "" {
		var page pagedList[changeDTO]
		e.call("GET", next, e.mp(altOrg), nil).json(t, 200, &page)
		for _, d := range page.Data {
			seen = append(seen, d.ID)
		}
		next = page.Links.Next
	}
	if !slices.Equal(seen, ids) {
		t.Fatalf("bysystem pages: %v, want %v", seen, ids)
	}
	e.s.FailApprovals(true)
	var ae *AltinnError
	if err := e.s.ApproveChange(ids[0]); !errorsAs(err, &ae) || ae.Code != "AUTH-00001" {
		t.Fatalf("failing approval: %v", err)
	}
	if cr := e.s.ChangeRequests()[0]; cr.Status != "New" {
		t.Fatalf("after a failed approval: %s", cr.Status)
	}
}

var changeCSRFRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestAltinnChangeApprovalPage: the confirm URL shows the change and approves it with a one-time CSRF
// token bound to it; a request page's token or a reused token is refused.
func TestAltinnChangeApprovalPage(t *testing.T) {
	e, su := changeEnv(t)
	cid := newUUID()
	var d changeDTO
	e.postChange(altOrg, cid, su, addSkatt()).json(t, 201, &d)
	page := func(u string) string {
		resp, err := http.Get(u)
		altMust(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		return string(b)
	}
	body := page(d.ConfirmURL)
	if !strings.Contains(body, ResourceSkatt) || !strings.Contains(body, su) {
		t.Fatalf("page does not show the change: %s", body)
	}
	tok := changeCSRFRe.FindStringSubmatch(body)[1]
	post := func(id, csrf string) int {
		resp, err := http.PostForm(e.s.URL()+changeApprovalPath, url.Values{"id": {id}, "csrf": {csrf}, "action": {"approve"}})
		altMust(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post(cid, "forged"); st != 403 {
		t.Fatalf("forged CSRF: %d", st)
	}
	// A token of the system user request's page does not approve a change request.
	var open requestDTO
	e.postRequest(altRequestBody("ledger")).json(t, http.StatusCreated, &open)
	reqTok := changeCSRFRe.FindStringSubmatch(page(open.ConfirmURL))
	if reqTok == nil || post(cid, reqTok[1]) != 403 {
		t.Fatal("a request page's token approved a change request (or the request page had no token)")
	}
	if st := post(cid, tok); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	if st := post(cid, tok); st != 403 {
		t.Fatalf("reused token: %d", st)
	}
	if rights, _, _ := e.s.SystemUserRights(su); !slices.Contains(rights, ResourceSkatt) {
		t.Fatalf("page approval did not delegate: %v", rights)
	}
}
