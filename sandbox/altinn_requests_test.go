package sandbox

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// §9 items 9–12 and the lost-reply fault: system user requests.

// TestAltinnRequestDecisionOrder: 201 + Location; a re-POST returns the stored request with 200 and
// ignores the new body; once a system user exists, AUTH-00004.
func TestAltinnRequestDecisionOrder(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	r := e.postRequest(altRequestBody("payroll"))
	var first requestDTO
	r.json(t, http.StatusCreated, &first)
	if loc := r.Header.Get("Location"); loc != e.s.AltinnURL()+"/authentication/api/v1/systemuser/request/"+first.ID {
		t.Errorf("Location = %q", loc)
	}
	want := requestDTO{ID: first.ID, IntegrationTitle: "SAP lokal", ExternalRef: "payroll", SystemID: altSys, PartyOrgNo: altOrg,
		Rights: []sysRight{{Resource: []resourceMatch{{ID: "urn:altinn:resource", Value: ResourceExample}}}}, AccessPackages: []accessPackage{},
		Status: "New", ConfirmURL: e.s.URL() + "/am/accessmanagement/ui/systemuser/request?id=" + first.ID + "&DONTCHOOSEREPORTEE=true",
		Created: "2026-07-20T08:00:00.000000Z"}
	if !altEqualJSON(first, want) {
		t.Fatalf("response\n got %+v\nwant %+v", first, want)
	}
	if !altUUIDRe.MatchString(`"` + first.ID + `"`) {
		t.Errorf("id %q is not a UUID", first.ID)
	}

	changed := altRequestBody("payroll")
	changed["rights"] = []any{altRight("not-even-on-the-system")}
	var again requestDTO
	e.postRequest(changed).json(t, http.StatusOK, &again)
	if !altEqualJSON(again, first) {
		t.Fatalf("re-POST returned %+v, want the stored %+v", again, first)
	}

	altMust(t, e.s.Reject(first.ID))
	e.postRequest(altRequestBody("payroll")).json(t, http.StatusOK, &again)
	if again.ID != first.ID || again.Status != "Rejected" {
		t.Fatalf("re-POST after Rejected: %+v", again)
	}

	var other requestDTO
	e.postRequest(altRequestBody("ledger")).json(t, http.StatusCreated, &other)
	altMust(t, e.s.Approve(other.ID))
	e.postRequest(altRequestBody("ledger")).code(t, http.StatusBadRequest, "AUTH-00004")
	if n := len(e.s.Requests()); n != 2 {
		t.Fatalf("%d requests stored, want 2 (no duplicates)", n)
	}
}

const altLostBody = `{"systemId":"` + altSys + `","partyOrgNo":"` + altOrg + `","rights":[{"resource":[{"id":"urn:altinn:resource","value":"example-resource"}]}]}`

// TestAltinnRequestLostReply: a POST whose reply is lost is stored; the retried POST gets 200 with the
// same request (faults of §9).
func TestAltinnRequestLostReply(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	tok := e.mp(altOrg)
	e.s.Inject(TargetAltinn, Fault{LoseReply: true, Times: 1})
	req, err := http.NewRequest("POST", e.s.URL()+altinnAPI+"systemuser/request/vendor", strings.NewReader(altLostBody))
	altMust(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reply was not lost: %d", resp.StatusCode)
	}
	stored := e.s.Requests()
	if len(stored) != 1 {
		t.Fatalf("%d requests stored by the lost POST, want 1\n%s", len(stored), e.log.String())
	}
	var dto requestDTO
	e.call("POST", "systemuser/request/vendor", tok, altLostBody).json(t, http.StatusOK, &dto)
	if dto.ID != stored[0].ID || len(e.s.Requests()) != 1 {
		t.Fatalf("retry got %s, stored %s", dto.ID, stored[0].ID)
	}
}

// TestAltinnRequestExternalRef: default partyOrgNo, exact and case-sensitive, "" refused (strict).
func TestAltinnRequestExternalRef(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	var none, lower, upper requestDTO
	e.postRequest(altRequestBody("")).json(t, 201, &none)
	if none.ExternalRef != altOrg {
		t.Errorf("default externalRef = %q, want %s", none.ExternalRef, altOrg)
	}
	e.postRequest(altRequestBody(altOrg)).json(t, 200, &lower) // explicit orgno = the default: same key
	if lower.ID != none.ID {
		t.Errorf("externalRef=orgno made a new request")
	}
	e.postRequest(altRequestBody("payroll")).json(t, 201, &lower)
	e.postRequest(altRequestBody("Payroll")).json(t, 201, &upper)
	if lower.ID == upper.ID {
		t.Error("externalRef compared case-insensitively")
	}
	empty := altRequestBody("")
	empty["externalRef"] = ""
	if codes, paths := e.postRequest(empty).vld(t); !slices.Equal(codes, []string{vldEmptyRef}) || paths[vldEmptyRef][0] != "/externalRef" {
		t.Fatalf("empty externalRef: %v", codes)
	}
	var byRef requestDTO
	e.call("GET", "systemuser/request/vendor/byexternalref/"+altSys+"/"+altOrg+"/Payroll", e.mp(altOrg), nil).json(t, 200, &byRef)
	if byRef.ID != upper.ID {
		t.Errorf("byexternalref Payroll = %s, want %s", byRef.ID, upper.ID)
	}
	var byOrg requestDTO
	e.call("GET", "systemuser/request/vendor/byexternalref/"+altSys+"/"+altOrg+"/"+altOrg, e.mp(altOrg), nil).json(t, 200, &byOrg)
	if byOrg.ID != none.ID {
		t.Errorf("byexternalref orgno = %s, want %s", byOrg.ID, none.ID)
	}
	e.call("GET", "systemuser/request/vendor/byexternalref/"+altSys+"/"+altOrg+"/nope", e.mp(altOrg), nil).code(t, 404, "AUTH-00010")
	e.call("GET", "systemuser/request/vendor/byexternalref/"+altSys+"/"+altOrg+"/payroll", e.mp(altOther), nil).code(t, 404, "AUTH-00011")
}

// TestAltinnRequestValidation: system, org, redirect, rights and package checks with their codes.
func TestAltinnRequestValidation(t *testing.T) {
	e := newAltEnv(t)
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altSys, ClientIDs: []string{altClientID(altOrg)},
		Rights: []string{ResourceExample, ResourceSkatt}, AccessPackages: []string{PackageAssignable, PackageClientRelation},
		RedirectURLs: []string{"https://app.example.no/callback"}}))
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altOrg + "_noredirect", Rights: []string{ResourceExample}}))
	altMust(t, e.s.SeedSystem(SystemSeed{ID: altOther + "_theirs", Rights: []string{ResourceExample}}))
	body := func(mod func(map[string]any)) map[string]any {
		b := altRequestBody("")
		b["externalRef"] = "r" + newUUID()[:8] // a fresh key per case
		mod(b)
		return b
	}
	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"valid", body(func(map[string]any) {}), 201, ""},
		{"two rights, packages", body(func(b map[string]any) {
			b["rights"] = []any{altRight(ResourceSkatt), altRight(ResourceExample)}
			b["accessPackages"] = []any{map[string]any{"urn": PackageAssignable}}
		}), 201, ""},
		{"packages only", body(func(b map[string]any) {
			delete(b, "rights")
			b["accessPackages"] = []any{map[string]any{"urn": PackageAssignable}}
		}), 201, ""},
		{"unknown system", body(func(b map[string]any) { b["systemId"] = altOrg + "_nope" }), 404, "AUTH-00011"},
		{"another vendor's system", body(func(b map[string]any) { b["systemId"] = altOther + "_theirs" }), 404, "AUTH-00011"},
		{"org not in register", body(func(b map[string]any) { b["partyOrgNo"] = altUnknown }), 400, "AUTH-00000"},
		{"right not on system", body(func(b map[string]any) { b["rights"] = []any{altRight(ResourceMaskinportenSchema)} }), 400, "AUTH-00001"},
		{"right with another action", body(func(b map[string]any) {
			r := altRight(ResourceExample)
			r["action"] = "write"
			b["rights"] = []any{r}
		}), 400, "AUTH-00001"},
		{"rights and packages null", body(func(b map[string]any) { delete(b, "rights") }), 400, "AUTH-00001"},
		{"rights and packages empty", body(func(b map[string]any) { b["rights"] = []any{}; b["accessPackages"] = []any{} }), 400, "AUTH-00059"},
		{"package not on system", body(func(b map[string]any) { b["accessPackages"] = []any{map[string]any{"urn": PackageNotAssignable}} }), 400, "AUTH-00063"},
		{"package not assignable", body(func(b map[string]any) { b["accessPackages"] = []any{map[string]any{"urn": PackageClientRelation}} }), 400, "AUTH-00064"},
		{"redirect allowed, query ignored", body(func(b map[string]any) { b["redirectUrl"] = "https://app.example.no/callback?state=1" }), 201, ""},
		{"redirect not allowed", body(func(b map[string]any) { b["redirectUrl"] = "https://app.example.no/other" }), 400, "AUTH-00021"},
		{"system without redirects", body(func(b map[string]any) {
			b["systemId"] = altOrg + "_noredirect"
			b["redirectUrl"] = "https://app.example.no/callback"
		}), 400, "AUTH-00026"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.s.Requests())
			r := e.postRequest(c.body)
			if c.code == "" {
				if r.Status != c.status {
					t.Fatalf("got %d %s", r.Status, r.Body)
				}
				return
			}
			r.code(t, c.status, c.code)
			if len(e.s.Requests()) != before {
				t.Fatal("a refused request was stored")
			}
		})
	}
	t.Run("missing members", func(t *testing.T) {
		codes, paths := e.postRequest(map[string]any{"rights": []any{}}).vld(t)
		if !slices.Equal(codes, []string{vldRequired}) || !slices.Equal(paths[vldRequired], []string{"/systemId", "/partyOrgNo"}) {
			t.Fatalf("got %v %v", codes, paths)
		}
	})
}

// TestAltinnRequestLifecycle: statuses, 409 AUTH-00013, timedOut, reads, DELETE 202 and a new POST.
func TestAltinnRequestLifecycle(t *testing.T) {
	e := newAltEnv(t, func(o *Options) { o.RequestTimeout = 48 * time.Hour })
	e.registerSystem()
	var rq requestDTO
	e.postRequest(altRequestBody("a")).json(t, 201, &rq)
	read := func(id string) altResp { return e.call("GET", "systemuser/request/vendor/"+id, e.mp(altOrg), nil) }

	e.clock.Advance(47 * time.Hour)
	var got requestDTO
	read(rq.ID).json(t, 200, &got)
	if got.TimedOut || got.Status != "New" {
		t.Fatalf("before the timeout: %+v", got)
	}
	e.clock.Advance(2 * time.Hour)
	read(rq.ID).json(t, 200, &got)
	if !got.TimedOut || got.Status != "New" {
		t.Fatalf("after the timeout: timedOut=%v status=%s, want true/New", got.TimedOut, got.Status)
	}
	var ae *AltinnError
	if err := e.s.Approve(rq.ID); !errors.As(err, &ae) || ae.Code != "AUTH-00013" || ae.Status != 409 {
		t.Fatalf("approving a timed-out request: %v", err)
	}

	var b requestDTO
	e.postRequest(altRequestBody("b")).json(t, 201, &b)
	altMust(t, e.s.Approve(b.ID))
	read(b.ID).json(t, 200, &got)
	if got.Status != "Accepted" {
		t.Fatalf("status after approval = %s", got.Status)
	}
	for _, err := range []error{e.s.Approve(b.ID), e.s.Reject(b.ID)} {
		if !errors.As(err, &ae) || ae.Code != "AUTH-00013" || ae.Status != 409 {
			t.Fatalf("decision on an Accepted request: %v", err)
		}
	}

	t.Run("reads", func(t *testing.T) {
		read("not-a-uuid").vld(t)
		read(newUUID()).code(t, 404, "AUTH-00010")
		e.call("GET", "systemuser/request/vendor/"+b.ID, e.mp(altOther), nil).code(t, 404, "AUTH-00011")
		e.call("GET", "systemuser/request/vendor/bysystem/"+altOrg+"_nope", e.mp(altOrg), nil).code(t, 404, "AUTH-00011")
	})

	t.Run("delete then new", func(t *testing.T) {
		e.call("DELETE", "systemuser/request/vendor/"+rq.ID, e.mp(altOrg), nil).empty(t, http.StatusAccepted)
		read(rq.ID).code(t, 404, "AUTH-00010")
		e.call("DELETE", "systemuser/request/vendor/"+rq.ID, e.mp(altOrg), nil).code(t, 404, "AUTH-00010")
		var again requestDTO
		e.postRequest(altRequestBody("a")).json(t, 201, &again)
		if again.ID == rq.ID || again.TimedOut {
			t.Fatalf("re-POST after DELETE: %+v", again)
		}
		// Deleting an accepted request keeps its system user.
		e.call("DELETE", "systemuser/request/vendor/"+b.ID, e.mp(altOrg), nil).empty(t, http.StatusAccepted)
		if _, _, ok := e.s.altinn.matchSystemUser(altClientID(altOrg), altOrg, altOrg, "b"); !ok {
			t.Fatal("deleting the request removed its system user")
		}
	})
}

// TestAltinnRequestPaging: bysystem pages by Options.PageSize; following links.next yields every live
// request once, in creation order.
func TestAltinnRequestPaging(t *testing.T) {
	e := newAltEnv(t, func(o *Options) { o.PageSize = 2 })
	e.registerSystem()
	var want []string
	for _, ref := range []string{"r1", "r2", "r3", "r4", "r5"} {
		var dto requestDTO
		e.postRequest(altRequestBody(ref)).json(t, 201, &dto)
		want = append(want, dto.ID)
	}
	e.call("DELETE", "systemuser/request/vendor/"+want[1], e.mp(altOrg), nil)
	want = slices.Delete(want, 1, 2)
	var got []string
	next, pages := "systemuser/request/vendor/bysystem/"+altSys, 0
	for next != "" && pages < 10 {
		var page pagedList[requestDTO]
		e.call("GET", next, e.mp(altOrg), nil).json(t, 200, &page)
		if len(page.Data) > 2 {
			t.Fatalf("page of %d, PageSize 2", len(page.Data))
		}
		for _, d := range page.Data {
			got = append(got, d.ID)
		}
		next, pages = page.Links.Next, pages+1
	}
	if !slices.Equal(got, want) || pages != 2 {
		t.Fatalf("paged %v in %d pages, want %v in 2", got, pages, want)
	}
}
