package sandbox

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// §9 item 13: the approval page at the confirm URL.

var altCSRFRe = regexp.MustCompile(`name="csrf" value="([A-Za-z0-9_-]+)"`)

// page GETs a URL and returns status and body.
func (e *altEnv) page(u string) (int, string, http.Header) {
	e.t.Helper()
	resp, err := http.Get(u)
	altMust(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	altMust(e.t, err)
	return resp.StatusCode, string(b), resp.Header
}

// submit POSTs the approval form.
func (e *altEnv) submit(form url.Values, hdr map[string]string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.s.URL()+approvalPath, strings.NewReader(form.Encode()))
	altMust(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	altMust(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	altMust(e.t, err)
	return resp.StatusCode, string(b)
}

// newPending posts a request with ref and returns it.
func (e *altEnv) newPending(ref string) requestDTO {
	e.t.Helper()
	var rq requestDTO
	e.postRequest(altRequestBody(ref)).json(e.t, 201, &rq)
	return rq
}

// csrfOf loads the confirm page and returns its CSRF token.
func (e *altEnv) csrfOf(rq requestDTO) string {
	e.t.Helper()
	_, body, _ := e.page(rq.ConfirmURL)
	m := altCSRFRe.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF token on the page: %s", body)
	}
	return m[1]
}

func (e *altEnv) status(id string) requestDTO {
	e.t.Helper()
	var rq requestDTO
	e.call("GET", "systemuser/request/vendor/"+id, e.mp(altOrg), nil).json(e.t, 200, &rq)
	return rq
}

// TestApprovalPage: GET renders the request with both buttons; POST with the page's CSRF token
// approves and creates the system user with id = request id; without or with a wrong token it is
// refused and the request stays New.
func TestApprovalPage(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	rq := e.newPending("payroll")
	code, body, hdr := e.page(rq.ConfirmURL)
	for _, want := range []string{`id="approve"`, `id="reject"`, "SAP lokal", altSys, altOrg + " Eksempel AS", ResourceExample, "payroll", `method="post"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("page: %d %v", code, hdr)
	}
	tok := altCSRFRe.FindStringSubmatch(body)[1]
	other := e.newPending("other")
	otherTok := e.csrfOf(other)

	refusals := []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{"id": {rq.ID}, "action": {"approve"}}, nil},
		{"made-up token", url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {"x" + tok[1:]}}, nil},
		{"another page's token", url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {otherTok}}, nil},
		{"cross-site post", url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			if code, _ := e.submit(c.form, c.hdr); code != http.StatusForbidden {
				t.Fatalf("got %d", code)
			}
			if st := e.status(rq.ID).Status; st != "New" {
				t.Fatalf("status %s after a refused post", st)
			}
		})
	}

	code, body = e.submit(url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {tok}}, nil)
	if code != 200 || !strings.Contains(body, "Approved") || strings.Contains(body, `id="approve"`) {
		t.Fatalf("approve: %d %s", code, body)
	}
	if st := e.status(rq.ID).Status; st != "Accepted" {
		t.Fatalf("status %s after approval", st)
	}
	if id, _, ok := e.s.altinn.matchSystemUser(altClientID(altOrg), altOrg, altOrg, "payroll"); !ok || id != rq.ID {
		t.Fatalf("system user %q %v, want id = request id %s", id, ok, rq.ID)
	}
	if code, _ := e.submit(url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {tok}}, nil); code != http.StatusForbidden {
		t.Fatalf("a used token worked again: %d", code)
	}
	if _, body, _ := e.page(rq.ConfirmURL); strings.Contains(body, `id="approve"`) || !strings.Contains(body, "Accepted") {
		t.Fatal("an accepted request still offers the buttons")
	}

	t.Run("reject", func(t *testing.T) {
		code, body := e.submit(url.Values{"id": {other.ID}, "action": {"reject"}, "csrf": {e.csrfOf(other)}}, nil)
		if code != 200 || !strings.Contains(body, "Rejected") || e.status(other.ID).Status != "Rejected" {
			t.Fatalf("reject: %d %s", code, body)
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		if code, _, _ := e.page(e.s.ConfirmURL(newUUID())); code != 404 {
			t.Fatalf("got %d", code)
		}
	})
}

// TestApprovalFailure: with FailApprovals the approval fails the delegation check (403 AUTH-00016), the
// request stays New and becomes escalated; a system without an nb name fails with AUTH-00017.
func TestApprovalFailure(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	rq := e.newPending("")
	e.s.FailApprovals(true)
	code, body := e.submit(url.Values{"id": {rq.ID}, "action": {"approve"}, "csrf": {e.csrfOf(rq)}}, nil)
	if code != http.StatusForbidden || !strings.Contains(body, "AUTH-00016") {
		t.Fatalf("failed approval: %d %s", code, body)
	}
	if got := e.status(rq.ID); got.Status != "New" || !got.Escalated {
		t.Fatalf("after a failed approval: status %s escalated %v", got.Status, got.Escalated)
	}
	if len(e.s.SystemUsers()) != 0 {
		t.Fatal("a failed approval created a system user")
	}
	e.s.FailApprovals(false)
	altMust(t, e.s.Approve(rq.ID))

	altMust(t, e.s.SeedSystem(SystemSeed{ID: altOrg + "_nonb", Name: map[string]string{"en": "No nb"}, Rights: []string{ResourceExample}}))
	b := altRequestBody("")
	b["systemId"] = altOrg + "_nonb"
	var nonb requestDTO
	e.postRequest(b).json(t, 201, &nonb)
	var ae *AltinnError
	if err := e.s.Approve(nonb.ID); !errors.As(err, &ae) || ae.Code != "AUTH-00017" || ae.Status != 404 {
		t.Fatalf("approval without nb name: %v", err)
	}
	if err := e.s.Approve(newUUID()); !errors.As(err, &ae) || ae.Code != "AUTH-00010" {
		t.Fatalf("approval of an unknown request: %v", err)
	}
}
