package sandbox

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// System user requests, vendor side (altinn-api.md §4.1–4.3).

// requestBody is CreateRequestSystemUser (altinn-api.md §4.1).
type requestBody struct {
	SystemID         *string         `json:"systemId"`
	PartyOrgNo       *string         `json:"partyOrgNo"`
	ExternalRef      *string         `json:"externalRef"`
	Rights           []sysRight      `json:"rights"`
	AccessPackages   []accessPackage `json:"accessPackages"`
	RedirectURL      *string         `json:"redirectUrl"`
	IntegrationTitle *string         `json:"integrationTitle"`
}

// requestDTO is RequestSystemResponse (examples/altinn/request-response.json).
type requestDTO struct {
	ID               string          `json:"id"`
	IntegrationTitle string          `json:"integrationTitle"`
	ExternalRef      string          `json:"externalRef"`
	SystemID         string          `json:"systemId"`
	PartyOrgNo       string          `json:"partyOrgNo"`
	Rights           []sysRight      `json:"rights"`
	AccessPackages   []accessPackage `json:"accessPackages"`
	Status           string          `json:"status"`
	RedirectURL      string          `json:"redirectUrl,omitempty"`
	ConfirmURL       string          `json:"confirmUrl"`
	Escalated        bool            `json:"escalated"`
	Created          string          `json:"created"`
	TimedOut         bool            `json:"timedOut"`
}

// dto renders a request. a.mu held.
func (a *altinn) requestDTO(rq *sysRequest) requestDTO {
	return requestDTO{
		ID: rq.ID, IntegrationTitle: rq.IntegrationTitle, ExternalRef: rq.ExternalRef, SystemID: rq.SystemID,
		PartyOrgNo: rq.PartyOrgNo, Rights: altinnNonNil(rq.Rights), AccessPackages: altinnNonNil(rq.Packages),
		Status: rq.Status, RedirectURL: rq.RedirectURL, ConfirmURL: a.s.ConfirmURL(rq.ID),
		Escalated: rq.Escalated, Created: altinnTime(rq.Created), TimedOut: a.timedOut(rq),
	}
}

// altinnNonNil returns s, or an empty slice for nil, so JSON shows [] as Altinn does.
func altinnNonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// createRequest is POST systemuser/request/vendor with the decision order of §4.1: existing system
// user → 400 AUTH-00004; existing request (any status) → 200 with it, body ignored; else validate → 201.
func (a *altinn) createRequest(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	var b requestBody
	if e := altinnDecode(w, r, &b); e != nil {
		a.validation(w, []validationError{*e})
		return
	}
	for _, p := range []*string{b.SystemID, b.PartyOrgNo, b.ExternalRef, b.RedirectURL, b.IntegrationTitle} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	trimAltinnRights(b.Rights)
	var errs []validationError
	if b.SystemID == nil || *b.SystemID == "" {
		errs = append(errs, altinnRequired("/systemId"))
	}
	if b.PartyOrgNo == nil || *b.PartyOrgNo == "" {
		errs = append(errs, altinnRequired("/partyOrgNo"))
	}
	if b.ExternalRef != nil && *b.ExternalRef == "" {
		errs = append(errs, validationError{Code: vldEmptyRef, Paths: []string{"/externalRef"},
			Title: "externalRef must be omitted or non-empty (the sandbox is strict: Altinn stores \"\" as the org number but looks it up as \"\")."})
	}
	if len(errs) > 0 {
		a.validation(w, errs)
		return
	}
	sysID, org := *b.SystemID, *b.PartyOrgNo
	ref := org
	if b.ExternalRef != nil {
		ref = *b.ExternalRef
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.liveUser(sysID, org, ref) != nil {
		a.problem(w, codeUserExists, "Failed to create new SystemUser, existing SystemUser tied to the given System-Id.")
		return
	}
	if rq := a.liveRequest(sysID, org, ref); rq != nil {
		altinnJSON(w, http.StatusOK, a.requestDTO(rq))
		return
	}
	sys, perr := a.checkRequest(&b, c)
	if perr != nil {
		a.problemErr(w, perr)
		return
	}
	rq := &sysRequest{
		ID: newUUID(), SystemID: sysID, PartyOrgNo: org, ExternalRef: ref, Rights: b.Rights,
		Packages: b.AccessPackages, Status: requestNew, Created: a.s.now(), seq: a.nextSeq(),
		IntegrationTitle: sys.Name["nb"],
	}
	if b.IntegrationTitle != nil && *b.IntegrationTitle != "" {
		rq.IntegrationTitle = *b.IntegrationTitle
	}
	if b.RedirectURL != nil {
		rq.RedirectURL = *b.RedirectURL
	}
	a.requests[rq.ID] = rq
	w.Header().Set("Location", a.s.AltinnURL()+"/authentication/api/v1/systemuser/request/"+rq.ID)
	altinnJSON(w, http.StatusCreated, a.requestDTO(rq))
}

// checkRequest validates a new request: system of this vendor (AUTH-00011), org in the Register
// (AUTH-00000), redirect URL (AUTH-00021/26), rights pair for pair (AUTH-00001/59), packages on the
// system and assignable (AUTH-00063/64). a.mu held.
func (a *altinn) checkRequest(b *requestBody, c vendorCaller) (*system, *AltinnError) {
	sys := a.systems[*b.SystemID]
	if sys == nil || sys.VendorOrg != c.org {
		return nil, newAltinnError(codeSystemUnknown, "The Id does not refer to a Registered System.")
	}
	if _, ok := a.orgs[*b.PartyOrgNo]; !ok {
		return nil, newAltinnError(codeOrgUnknown, "The organisation number is not found in the Register.")
	}
	if b.RedirectURL != nil && *b.RedirectURL != "" {
		if len(sys.RedirectURLs) == 0 {
			return nil, newAltinnError(codeNoRedirects, "The system has no allowed redirect URLs.")
		}
		if !altinnRedirectAllowed(*b.RedirectURL, sys.RedirectURLs) {
			return nil, newAltinnError(codeRedirectBad, "The redirect URL is not one of the system's allowed redirect URLs.")
		}
	}
	switch {
	case b.Rights == nil && b.AccessPackages == nil:
		return nil, newAltinnError(codeRightMismatch, "Rights and access packages are both missing.")
	case len(b.Rights) == 0 && len(b.AccessPackages) == 0:
		return nil, newAltinnError(codeEmptyRights, "A standard request needs at least one right or access package.")
	}
	for _, rt := range b.Rights {
		if !slices.ContainsFunc(sys.Rights, func(s sysRight) bool { return rightKey(s) == rightKey(rt) }) {
			return nil, newAltinnError(codeRightMismatch, "One or more rights are not registered on the system.")
		}
	}
	for _, p := range b.AccessPackages {
		if !slices.Contains(sys.Packages, p) {
			return nil, newAltinnError(codePackageNotOnSys, "The access package is not registered on the system.")
		}
		if !a.packages[p.URN].assignable {
			return nil, newAltinnError(codePackageNotAssig, "The access package cannot be assigned to a standard system user.")
		}
	}
	return sys, nil
}

// altinnRedirectAllowed compares scheme, host and path with the allowed URLs; the query is ignored.
func altinnRedirectAllowed(raw string, allowed []string) bool {
	n, ok := normaliseAltinnURL(raw)
	if !ok {
		return false
	}
	u, _ := url.Parse(n)
	for _, al := range allowed {
		v, err := url.Parse(al)
		if err == nil && v.Scheme == u.Scheme && v.Host == u.Host && v.Path == u.Path {
			return true
		}
	}
	return false
}

var altinnUUIDRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// pathRequest is the live request named by the {requestId} path segment. A non-UUID gets a 400, an
// unknown or deleted request 404 AUTH-00010; then it returns nil. The caller holds a.mu.
func (a *altinn) pathRequest(w http.ResponseWriter, r *http.Request) *sysRequest {
	id := r.PathValue("requestId")
	if !altinnUUIDRe.MatchString(id) {
		a.validation(w, []validationError{{Code: vldBadJSON, Paths: []string{"/requestId"},
			Title: "The request id must be a UUID."}})
		return nil
	}
	rq := a.requests[strings.ToLower(id)]
	if rq == nil || rq.Deleted {
		a.problem(w, codeRequestUnknown, "The request was not found.")
		return nil
	}
	return rq
}

// getRequest is GET …/vendor/{requestId}: unknown or deleted → 404 AUTH-00010, another vendor's
// system → 404 AUTH-00011.
func (a *altinn) getRequest(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rq := a.pathRequest(w, r)
	if rq == nil {
		return
	}
	if !a.vendorSystem(w, rq.SystemID, c) {
		return
	}
	altinnJSON(w, http.StatusOK, a.requestDTO(rq))
}

// getRequestByRef is GET …/vendor/byexternalref/{systemId}/{orgNo}/{externalRef}.
func (a *altinn) getRequestByRef(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	sysID, org, ref := r.PathValue("systemId"), r.PathValue("orgNo"), r.PathValue("externalRef")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.vendorSystem(w, sysID, c) {
		return
	}
	rq := a.liveRequest(sysID, org, ref)
	if rq == nil {
		a.problem(w, codeRequestUnknown, "The request was not found.")
		return
	}
	altinnJSON(w, http.StatusOK, a.requestDTO(rq))
}

// listRequests is GET …/vendor/bysystem/{systemId}: the system's live requests, paged.
func (a *altinn) listRequests(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	sysID := r.PathValue("systemId")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.vendorSystem(w, sysID, c) {
		return
	}
	var all []*sysRequest
	for _, rq := range a.requests {
		if !rq.Deleted && rq.SystemID == sysID {
			all = append(all, rq)
		}
	}
	servePaged(a, w, r, all, func(rq *sysRequest) int { return rq.seq }, a.requestDTO)
}

// deleteRequest is DELETE …/vendor/{requestId}: soft delete, 202; no vendor check (R2); an existing
// system user stays.
func (a *altinn) deleteRequest(w http.ResponseWriter, r *http.Request, _ vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rq := a.pathRequest(w, r)
	if rq == nil {
		return
	}
	rq.Deleted = true
	w.WriteHeader(http.StatusAccepted)
}
