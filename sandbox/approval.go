package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"time"
)

// The approval page at the confirm URL (altinn-api.md §4.4): what an administrator of the party sees
// after logging in. GET shows the request with Approve and Reject buttons in a plain HTML form; the
// form POSTs back with a one-time CSRF token bound to the request.

// approvalPath is the confirm URL's path on the sandbox (am.ui.<host>/accessmanagement/ui/...).
const approvalPath = "/am/accessmanagement/ui/systemuser/request"

// csrfLifetime bounds how long a rendered page can be submitted; maxCSRF bounds the store.
const (
	csrfLifetime = time.Hour
	maxCSRF      = 1000
)

// csrfToken binds one rendered page to its request.
type csrfToken struct {
	requestID string
	expires   time.Time
}

// approvalView is what the page shows.
type approvalView struct {
	ID, SystemID, SystemName, VendorOrg, PartyOrgNo, PartyName, ExternalRef, Status, CSRF, Result string
	Rights, Packages                                                                              []string
	Escalated, TimedOut, Open                                                                     bool
}

var approvalTmpl = template.Must(template.New("approval").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Approve system user request – sandbox Altinn</title></head>
<body>
<h1>System user request</h1>
{{with .Result}}<p id="result"><strong>{{.}}</strong></p>{{end}}
<dl>
<dt>System</dt><dd id="system">{{.SystemName}} ({{.SystemID}})</dd>
<dt>Vendor</dt><dd>{{.VendorOrg}}</dd>
<dt>Organisation</dt><dd id="org">{{.PartyOrgNo}}{{with .PartyName}} {{.}}{{end}}</dd>
<dt>External reference</dt><dd>{{.ExternalRef}}</dd>
<dt>Rights</dt><dd><ul id="rights">{{range .Rights}}<li>{{.}}</li>{{end}}{{range .Packages}}<li>{{.}}</li>{{end}}</ul></dd>
<dt>Status</dt><dd id="status">{{.Status}}{{if .TimedOut}} (timed out){{end}}{{if .Escalated}} (escalated){{end}}</dd>
</dl>
{{if .Open}}<form method="post" action="request">
<input type="hidden" name="id" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button id="approve" type="submit" name="action" value="approve">Approve</button>
<button id="reject" type="submit" name="action" value="reject">Reject</button>
</form>{{end}}
</body></html>
`))

// approvalPage is GET {confirm URL}.
func (a *altinn) approvalPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	a.mu.Lock()
	v, ok := a.approvalView(id)
	if ok && v.Open {
		v.CSRF = a.newCSRF(id)
	}
	a.mu.Unlock()
	if !ok {
		approvalHeaders(w)
		w.WriteHeader(http.StatusNotFound)
		_ = approvalTmpl.Execute(w, approvalView{Result: "Unknown or deleted request (AUTH-00010)."})
		return
	}
	approvalHeaders(w)
	_ = approvalTmpl.Execute(w, v)
}

// approvalSubmit is the form POST: a valid one-time CSRF token for this request, then approve or reject.
func (a *altinn) approvalSubmit(w http.ResponseWriter, r *http.Request) {
	id, result, status, ok := a.decisionForm(w, r, "", func(id string) string { return id }, a.decide)
	if !ok {
		return
	}
	a.mu.Lock()
	v, _ := a.approvalView(id)
	a.mu.Unlock()
	v.Result, v.Open = result, false
	approvalHeaders(w)
	w.WriteHeader(status)
	_ = approvalTmpl.Execute(w, v)
}

// decisionForm reads the POST of an approval page: the id (normalised by norm), the action, and the
// one-time CSRF token bound to csrfScope+id; then it applies decide. It returns the id, the result line
// and the HTTP status for the page, or ok false once it has answered a bad form itself.
func (a *altinn) decisionForm(w http.ResponseWriter, r *http.Request, csrfScope string, norm func(string) string,
	decide func(id string, approve bool) error) (id, result string, status int, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return "", "", 0, false
	}
	id, action := norm(r.PostForm.Get("id")), r.PostForm.Get("action")
	if !a.useCSRF(r.PostForm.Get("csrf"), csrfScope+id) {
		http.Error(w, "missing or invalid CSRF token: reload the confirm page", http.StatusForbidden)
		return "", "", 0, false
	}
	if action != "approve" && action != "reject" {
		http.Error(w, "action must be approve or reject", http.StatusBadRequest)
		return "", "", 0, false
	}
	err := decide(id, action == "approve")
	status, result = http.StatusOK, "Approved"
	if action == "reject" {
		result = "Rejected"
	}
	var ae *AltinnError
	if errors.As(err, &ae) {
		status, result = ae.Status, "Failed: "+ae.Title+" ("+ae.Code+")"
	}
	return id, result, status, true
}

// approvalView collects the page data of a live request. a.mu held.
func (a *altinn) approvalView(id string) (approvalView, bool) {
	rq := a.requests[id]
	if rq == nil || rq.Deleted {
		return approvalView{}, false
	}
	v := approvalView{
		ID: rq.ID, SystemID: rq.SystemID, PartyOrgNo: rq.PartyOrgNo, PartyName: a.orgs[rq.PartyOrgNo],
		ExternalRef: rq.ExternalRef, Status: rq.Status, Rights: altinnRightValues(rq.Rights),
		Packages: altinnPackageURNs(rq.Packages), Escalated: rq.Escalated, TimedOut: a.timedOut(rq),
	}
	if sys := a.systems[rq.SystemID]; sys != nil {
		v.SystemName, v.VendorOrg = sys.Name["nb"], sys.VendorOrg
	}
	v.Open = rq.Status == requestNew && !v.TimedOut
	return v, true
}

// newCSRF issues a one-time token for a page of request id. a.mu held.
func (a *altinn) newCSRF(id string) string {
	now := a.s.now()
	for t, c := range a.csrf {
		if now.After(c.expires) || len(a.csrf) >= maxCSRF {
			delete(a.csrf, t)
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	a.csrf[tok] = csrfToken{requestID: id, expires: now.Add(csrfLifetime)}
	return tok
}

// useCSRF consumes a token; it is valid if issued for id and not expired.
func (a *altinn) useCSRF(tok, id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.csrf[tok]
	if !ok || tok == "" {
		return false
	}
	delete(a.csrf, tok)
	return c.requestID == id && !a.s.now().After(c.expires)
}

// approvalHeaders sets the headers of an HTML page: no scripts, no framing, forms only to itself.
func approvalHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}
