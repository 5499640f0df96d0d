package sandbox

import (
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The change request's approval page at its confirm URL (altinn-api.md §4.5), like the request's page:
// GET shows what is added and removed with Approve and Reject; the form POSTs back with a one-time CSRF
// token bound to the change request. Plus the driver API: approve, reject, snapshots, and the system
// user's delegations (which the vendor API does not show).

// changeApprovalPath is the change request confirm URL's path.
const changeApprovalPath = "/am/accessmanagement/ui/systemuser/changerequest"

// csrfChange prefixes the CSRF binding of a change request page, so a request page's token never
// approves a change request.
const csrfChange = "change:"

type changeView struct {
	ID, SystemID, SystemName, PartyOrgNo, PartyName, ExternalRef, SystemUserID, Status, CSRF, Result string
	Add, Remove                                                                                      []string
	Open                                                                                             bool
}

var changeTmpl = template.Must(template.New("change").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Approve change request – sandbox Altinn</title></head>
<body>
<h1>Change of a system user's rights</h1>
{{with .Result}}<p id="result"><strong>{{.}}</strong></p>{{end}}
<dl>
<dt>System</dt><dd id="system">{{.SystemName}} ({{.SystemID}})</dd>
<dt>Organisation</dt><dd id="org">{{.PartyOrgNo}}{{with .PartyName}} {{.}}{{end}}</dd>
<dt>System user</dt><dd id="systemuser">{{.SystemUserID}} (external reference {{.ExternalRef}})</dd>
<dt>Add</dt><dd><ul id="add">{{range .Add}}<li>{{.}}</li>{{end}}</ul></dd>
<dt>Remove</dt><dd><ul id="remove">{{range .Remove}}<li>{{.}}</li>{{end}}</ul></dd>
<dt>Status</dt><dd id="status">{{.Status}}</dd>
</dl>
{{if .Open}}<form method="post" action="changerequest">
<input type="hidden" name="id" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<button id="approve" type="submit" name="action" value="approve">Approve</button>
<button id="reject" type="submit" name="action" value="reject">Reject</button>
</form>{{end}}
</body></html>
`))

// changeApprovalPage is GET {change confirm URL}.
func (a *altinn) changeApprovalPage(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.URL.Query().Get("id"))
	a.mu.Lock()
	v, ok := a.changeView(id)
	if ok && v.Open {
		v.CSRF = a.newCSRF(csrfChange + id)
	}
	a.mu.Unlock()
	approvalHeaders(w)
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_ = changeTmpl.Execute(w, changeView{Result: "Unknown or deleted change request (AUTH-00010)."})
		return
	}
	_ = changeTmpl.Execute(w, v)
}

// changeApprovalSubmit is the form POST.
func (a *altinn) changeApprovalSubmit(w http.ResponseWriter, r *http.Request) {
	id, result, status, ok := a.decisionForm(w, r, csrfChange, strings.ToLower, a.decideChange)
	if !ok {
		return
	}
	a.mu.Lock()
	v, _ := a.changeView(id)
	a.mu.Unlock()
	v.Result, v.Open = result, false
	approvalHeaders(w)
	w.WriteHeader(status)
	_ = changeTmpl.Execute(w, v)
}

// changeView collects the page data of a live change request. a.mu held.
func (a *altinn) changeView(id string) (changeView, bool) {
	cr := a.changes[id]
	if cr == nil || cr.Deleted {
		return changeView{}, false
	}
	v := changeView{
		ID: cr.ID, SystemID: cr.SystemID, PartyOrgNo: cr.PartyOrgNo, PartyName: a.orgs[cr.PartyOrgNo],
		ExternalRef: cr.ExternalRef, SystemUserID: cr.SystemUserID, Status: cr.Status,
		Add:    append(altinnRightValues(cr.RequiredRights), altinnPackageURNs(cr.RequiredPackages)...),
		Remove: append(altinnRightValues(cr.UnwantedRights), altinnPackageURNs(cr.UnwantedPackages)...),
		Open:   cr.Status == requestNew,
	}
	if sys := a.systems[cr.SystemID]; sys != nil {
		v.SystemName = sys.Name["nb"]
	}
	return v, true
}

// ChangeConfirmURL is the approval page of a change request, as in its confirmUrl.
func (s *Sandbox) ChangeConfirmURL(id string) string {
	return s.URL() + changeApprovalPath + "?id=" + url.QueryEscape(id) + "&DONTCHOOSEREPORTEE=true"
}

// ApproveChange approves a change request as the owner's administrator would at its confirm URL:
// AUTH-00010 unknown, AUTH-00013 (409) not New, AUTH-00015 system user gone, AUTH-00001 when
// FailApprovals is on (stays New).
func (s *Sandbox) ApproveChange(id string) error { return s.altinn.decideChange(id, true) }

// RejectChange rejects a change request; AUTH-00013 (409) if it is not New.
func (s *Sandbox) RejectChange(id string) error { return s.altinn.decideChange(id, false) }

// ChangeRequestView is a snapshot of a change request (resource ids and package URNs).
type ChangeRequestView struct {
	ID, SystemUserID, SystemID, PartyOrgNo, ExternalRef, Status string
	RequiredRights, UnwantedRights                              []string
	RequiredPackages, UnwantedPackages                          []string
	Deleted                                                     bool
	Created                                                     time.Time
}

// ChangeRequests returns every change request, deleted ones included, in creation order.
func (s *Sandbox) ChangeRequests() []ChangeRequestView {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	all := slices.SortedFunc(maps.Values(a.changes), func(x, y *changeRequest) int { return x.seq - y.seq })
	out := []ChangeRequestView{}
	for _, cr := range all {
		out = append(out, ChangeRequestView{
			ID: cr.ID, SystemUserID: cr.SystemUserID, SystemID: cr.SystemID, PartyOrgNo: cr.PartyOrgNo,
			ExternalRef: cr.ExternalRef, Status: cr.Status,
			RequiredRights: altinnRightValues(cr.RequiredRights), UnwantedRights: altinnRightValues(cr.UnwantedRights),
			RequiredPackages: altinnPackageURNs(cr.RequiredPackages), UnwantedPackages: altinnPackageURNs(cr.UnwantedPackages),
			Deleted: cr.Deleted, Created: cr.Created,
		})
	}
	return out
}

// SystemUserRights returns the resource ids and package URNs delegated to a system user now, sorted:
// what Altinn holds, which its vendor API does not show (tests use it to check a change took effect).
func (s *Sandbox) SystemUserRights(id string) (rights, packages []string, err error) {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[id]
	if u == nil || u.Deleted {
		return nil, nil, fmt.Errorf("sandbox altinn: system user %s: %w", id, newAltinnError(codeUserUnknown, "not found or deleted"))
	}
	rights, packages = altinnRightValues(u.Rights), altinnPackageURNs(u.Packages)
	slices.Sort(rights)
	slices.Sort(packages)
	return rights, packages, nil
}

// SetSystemClientIDs replaces a system's client ids as someone else (another server's setup, or a person
// in the portal) would: tokens of a client no longer listed fail with MP-303.
func (s *Sandbox) SetSystemClientIDs(systemID string, clientIDs []string) error {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[systemID]
	if sys == nil {
		return fmt.Errorf("sandbox altinn: set client ids: %w", newAltinnError(codeSystemUnknown, "system "+systemID+" is not registered"))
	}
	sys.ClientIDs = slices.Clone(clientIDs)
	return nil
}
