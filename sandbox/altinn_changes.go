package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Change requests, vendor side (altinn-api.md §4.5): the vendor asks to add or remove rights and access
// packages of an existing system user; the owner approves at the confirm URL; the system user keeps its
// id and externalRef, only its delegations change.

// zeroUUID is what ASP.NET binds a missing Guid query parameter to.
const zeroUUID = "00000000-0000-0000-0000-000000000000"

// Change request statuses (§4.5): New → Accepted | Rejected; NoChangeNeeded is never stored.
const changeNoChange = "NoChangeNeeded"

// changeRequest is a stored change request. Its id is the vendor's correlation id.
type changeRequest struct {
	ID               string
	SystemUserID     string
	SystemID         string
	PartyOrgNo       string
	ExternalRef      string
	RequiredRights   []sysRight
	UnwantedRights   []sysRight
	RequiredPackages []accessPackage
	UnwantedPackages []accessPackage
	RedirectURL      string
	Status           string
	Deleted          bool
	Created          time.Time
	seq              int
}

// changeBody is ChangeRequestSystemUser: every member optional, default [].
type changeBody struct {
	RequiredRights         []sysRight      `json:"requiredRights"`
	UnwantedRights         []sysRight      `json:"unwantedRights"`
	RequiredAccessPackages []accessPackage `json:"requiredAccessPackages"`
	UnwantedAccessPackages []accessPackage `json:"unwantedAccessPackages"`
	RedirectURL            *string         `json:"redirectUrl"`
}

// changeDTO is ChangeRequestResponse.
type changeDTO struct {
	ID                     string          `json:"id"`
	ExternalRef            string          `json:"externalRef"`
	SystemID               string          `json:"systemId"`
	SystemUserID           string          `json:"systemUserId"`
	PartyOrgNo             string          `json:"partyOrgNo"`
	RequiredRights         []sysRight      `json:"requiredRights"`
	UnwantedRights         []sysRight      `json:"unwantedRights"`
	RequiredAccessPackages []accessPackage `json:"requiredAccessPackages"`
	UnwantedAccessPackages []accessPackage `json:"unwantedAccessPackages"`
	Status                 string          `json:"status"`
	RedirectURL            string          `json:"redirectUrl,omitempty"`
	ConfirmURL             string          `json:"confirmUrl"`
	Created                string          `json:"created"`
	TimedOut               bool            `json:"timedOut"`
}

// changeDTO renders a change request. a.mu held.
func (a *altinn) changeDTO(cr *changeRequest) changeDTO {
	return changeDTO{
		ID: cr.ID, ExternalRef: cr.ExternalRef, SystemID: cr.SystemID, SystemUserID: cr.SystemUserID,
		PartyOrgNo: cr.PartyOrgNo, RequiredRights: altinnNonNil(cr.RequiredRights),
		UnwantedRights: altinnNonNil(cr.UnwantedRights), RequiredAccessPackages: altinnNonNil(cr.RequiredPackages),
		UnwantedAccessPackages: altinnNonNil(cr.UnwantedPackages), Status: cr.Status, RedirectURL: cr.RedirectURL,
		ConfirmURL: a.s.ChangeConfirmURL(cr.ID), Created: altinnTime(cr.Created),
	}
}

// decodeChangeBody decodes the body strictly. An explicit null list is refused: Altinn dereferences it
// (a 5xx there, [U]); the sandbox answers a clear 400 so the client bug shows.
func (a *altinn) decodeChangeBody(w http.ResponseWriter, r *http.Request) (*changeBody, bool) {
	var b changeBody
	if r.ContentLength == 0 {
		return &b, true
	}
	raw := json.RawMessage{}
	if e := altinnDecode(w, r, &raw); e != nil {
		a.validation(w, []validationError{*e})
		return nil, false
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) == nil {
		for k, v := range members {
			if string(v) == "null" && k != "redirectUrl" {
				a.validation(w, []validationError{{Code: vldBadJSON, Paths: []string{"/" + k},
					Title: "A null list: omit it or send [] (Altinn dereferences null lists and fails with a 5xx)."}})
				return nil, false
			}
		}
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(&b); err != nil {
		e := altinnDecodeError(err)
		a.validation(w, []validationError{e})
		return nil, false
	}
	trimAltinnRights(b.RequiredRights)
	trimAltinnRights(b.UnwantedRights)
	return &b, true
}

// createChange is POST systemuser/changerequest/vendor?correlation-id=&system-user-id= with the
// decision order of §4.5.
func (a *altinn) createChange(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	b, ok := a.decodeChangeBody(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	cid, sid := strings.ToLower(q.Get("correlation-id")), strings.ToLower(q.Get("system-user-id"))
	if sid == "" {
		sid = zeroUUID
	}
	// 1. correlation id missing or zero: plain string; not a UUID: model binding problem.
	if cid == "" || cid == zeroUUID {
		altinnText(w, http.StatusBadRequest, "The correlation-id is required and may not be the empty Guid.")
		return
	}
	var bad []validationError
	for name, v := range map[string]string{"correlation-id": cid, "system-user-id": sid} {
		if !altinnUUIDRe.MatchString(v) {
			bad = append(bad, validationError{Code: vldBadJSON, Paths: []string{"/" + name}, Title: "The value '" + v + "' is not valid."})
		}
	}
	if len(bad) > 0 {
		slices.SortFunc(bad, func(x, y validationError) int { return strings.Compare(x.Paths[0], y.Paths[0]) })
		a.validation(w, bad)
		return
	}
	// 2. vendor from the token, else 401 empty.
	if c.org == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// 3. system user unknown or deleted; correlation id = system user id.
	u := a.users[sid]
	if u == nil || u.Deleted {
		a.problem(w, codeUserUnknown, "The system user was not found.")
		return
	}
	if cid == sid {
		altinnText(w, http.StatusBadRequest, "The correlation-id may not be the system user's id.")
		return
	}
	// 4. another vendor's system user: 401 empty.
	sys := a.systems[u.SystemID]
	if sys == nil || sys.VendorOrg != c.org {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// 5. nothing asked: NoChangeNeeded, not stored.
	if len(b.RequiredRights)+len(b.UnwantedRights)+len(b.RequiredAccessPackages)+len(b.UnwantedAccessPackages) == 0 {
		altinnJSON(w, http.StatusOK, changeDTO{ID: cid, ExternalRef: u.ExternalRef, SystemID: u.SystemID,
			SystemUserID: u.ID, PartyOrgNo: u.OwnerOrg, RequiredRights: []sysRight{}, UnwantedRights: []sysRight{},
			RequiredAccessPackages: []accessPackage{}, UnwantedAccessPackages: []accessPackage{},
			Status: changeNoChange, ConfirmURL: "", Created: altinnTime(a.s.now())})
		return
	}
	// 6. the correlation id is a change request of this vendor's: the stored one, body and S ignored.
	if cr := a.changes[cid]; cr != nil && !cr.Deleted {
		if crSys := a.systems[cr.SystemID]; crSys != nil && crSys.VendorOrg == c.org {
			altinnJSON(w, http.StatusOK, a.changeDTO(cr))
			return
		}
		// 7a. held by another vendor.
		if cr.Status == requestNew {
			a.problem(w, codeChangeIDTaken, "A change request with this correlation-id exists.")
		} else {
			a.problem(w, codeChangeIDDecided, "A decided change request of another vendor has this correlation-id.")
		}
		return
	}
	// 7b. the checks.
	if perr := a.checkChange(b, u, sys); perr != nil {
		a.problemErr(w, perr)
		return
	}
	// A deleted change request keeps its id: reusing it fails the insert (primary key) [U].
	if a.changes[cid] != nil {
		altinnText(w, http.StatusInternalServerError, "An error occurred while saving the change request.")
		return
	}
	// 8. store New → 201.
	cr := &changeRequest{
		ID: cid, SystemUserID: u.ID, SystemID: u.SystemID, PartyOrgNo: u.OwnerOrg, ExternalRef: u.ExternalRef,
		RequiredRights: b.RequiredRights, UnwantedRights: b.UnwantedRights,
		RequiredPackages: b.RequiredAccessPackages, UnwantedPackages: b.UnwantedAccessPackages,
		Status: requestNew, Created: a.s.now(), seq: a.nextSeq(),
	}
	if b.RedirectURL != nil {
		cr.RedirectURL = strings.TrimSpace(*b.RedirectURL)
	}
	a.changes[cid] = cr
	w.Header().Set("Location", a.s.AltinnURL()+"/authentication/api/v1/systemuser/changerequest/"+cid)
	altinnJSON(w, http.StatusCreated, a.changeDTO(cr))
}

// checkChange is step 7 of §4.5: system of this vendor (AUTH-00011), owner in the Register
// (AUTH-00000), redirect URL (AUTH-00026/21), each required right on the system (AUTH-00001), required
// packages on it and assignable (AUTH-00063/64). Unwanted lists are not checked. a.mu held.
func (a *altinn) checkChange(b *changeBody, u *systemUser, sys *system) *AltinnError {
	if sys.Deleted {
		return newAltinnError(codeSystemUnknown, "The Id does not refer to a Registered System.")
	}
	if _, ok := a.orgs[u.OwnerOrg]; !ok {
		return newAltinnError(codeOrgUnknown, "The organisation number is not found in the Register.")
	}
	if b.RedirectURL != nil && strings.TrimSpace(*b.RedirectURL) != "" {
		if len(sys.RedirectURLs) == 0 {
			return newAltinnError(codeNoRedirects, "The system has no allowed redirect URLs.")
		}
		if !altinnRedirectAllowed(strings.TrimSpace(*b.RedirectURL), sys.RedirectURLs) {
			return newAltinnError(codeRedirectBad, "The redirect URL is not one of the system's allowed redirect URLs.")
		}
	}
	for _, rt := range b.RequiredRights {
		if !slices.ContainsFunc(sys.Rights, func(s sysRight) bool { return rightKey(s) == rightKey(rt) }) {
			return newAltinnError(codeRightMismatch, "One or more required rights are not registered on the system.")
		}
	}
	for _, p := range b.RequiredAccessPackages {
		if !slices.Contains(sys.Packages, p) {
			return newAltinnError(codePackageNotOnSys, "The access package is not registered on the system.")
		}
		if !a.packages[p.URN].assignable {
			return newAltinnError(codePackageNotAssig, "The access package cannot be assigned to a standard system user.")
		}
	}
	return nil
}

// pathChange is the live change request named by {changeId}: non-UUID → 400, unknown or deleted →
// 404 AUTH-00010, else it. a.mu held.
func (a *altinn) pathChange(w http.ResponseWriter, r *http.Request) *changeRequest {
	id := strings.ToLower(r.PathValue("changeId"))
	if !altinnUUIDRe.MatchString(id) {
		a.validation(w, []validationError{{Code: vldBadJSON, Paths: []string{"/changeId"}, Title: "The change request id must be a UUID."}})
		return nil
	}
	cr := a.changes[id]
	if cr == nil || cr.Deleted {
		a.problem(w, codeRequestUnknown, "The change request was not found.")
		return nil
	}
	return cr
}

// getChange is GET …/changerequest/vendor/{C}.
func (a *altinn) getChange(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cr := a.pathChange(w, r)
	if cr == nil || !a.vendorSystem(w, cr.SystemID, c) {
		return
	}
	altinnJSON(w, http.StatusOK, a.changeDTO(cr))
}

// getChangeByRef is GET …/byexternalref/{systemId}/{orgNo}/{ref}: any one live match. The sandbox
// implements the inferred reading of §4.5: this read leaves the package lists empty, so clients must
// read packages by id or by system.
func (a *altinn) getChangeByRef(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	sysID, org, ref := r.PathValue("systemId"), r.PathValue("orgNo"), r.PathValue("externalRef")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.vendorSystem(w, sysID, c) {
		return
	}
	for _, cr := range a.liveChanges(sysID) {
		if cr.PartyOrgNo == org && cr.ExternalRef == ref {
			d := a.changeDTO(cr)
			d.RequiredAccessPackages, d.UnwantedAccessPackages = []accessPackage{}, []accessPackage{}
			altinnJSON(w, http.StatusOK, d)
			return
		}
	}
	a.problem(w, codeRequestUnknown, "The change request was not found.")
}

// listChanges is GET …/bysystem/{systemId}: the system's live change requests, paged.
func (a *altinn) listChanges(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	sysID := r.PathValue("systemId")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.vendorSystem(w, sysID, c) {
		return
	}
	servePaged(a, w, r, a.liveChanges(sysID), func(cr *changeRequest) int { return cr.seq }, a.changeDTO)
}

// liveChanges returns the system's non-deleted change requests in creation order. a.mu held.
func (a *altinn) liveChanges(sysID string) []*changeRequest {
	var out []*changeRequest
	for _, cr := range a.changes {
		if !cr.Deleted && cr.SystemID == sysID {
			out = append(out, cr)
		}
	}
	slices.SortFunc(out, func(x, y *changeRequest) int { return x.seq - y.seq })
	return out
}

// deleteChange is DELETE …/changerequest/vendor/{C}: soft delete, 202, no vendor check.
func (a *altinn) deleteChange(w http.ResponseWriter, r *http.Request, _ vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cr := a.pathChange(w, r)
	if cr == nil {
		return
	}
	cr.Deleted = true
	w.WriteHeader(http.StatusAccepted)
}

// decideChange approves or rejects a change request. Approval: New only (409 AUTH-00013), the
// approver's delegation check (AUTH-00001 when FailApprovals is on, stays New), a live system user
// (AUTH-00015); then required rights and packages not yet held are delegated and unwanted ones revoked.
func (a *altinn) decideChange(id string, approve bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cr := a.changes[strings.ToLower(id)]
	switch {
	case cr == nil || cr.Deleted:
		return newAltinnError(codeRequestUnknown, "the change request was not found")
	case cr.Status != requestNew:
		return newAltinnError(codeNotNew, "the change request is "+cr.Status+", not New")
	case !approve:
		cr.Status = requestRejected
		return nil
	}
	u := a.users[cr.SystemUserID]
	if u == nil || u.Deleted {
		return newAltinnError(codeUserUnknown, "the system user was deleted")
	}
	if a.failApprovals {
		return newAltinnError(codeRightMismatch, "the approver may not delegate every required right")
	}
	for _, rt := range cr.RequiredRights {
		if !slices.ContainsFunc(u.Rights, func(h sysRight) bool { return rightKey(h) == rightKey(rt) }) {
			u.Rights = append(u.Rights, rt)
		}
	}
	for _, p := range cr.RequiredPackages {
		if !slices.Contains(u.Packages, p) {
			u.Packages = append(u.Packages, p)
		}
	}
	u.Rights = slices.DeleteFunc(u.Rights, func(h sysRight) bool {
		return slices.ContainsFunc(cr.UnwantedRights, func(x sysRight) bool { return rightKey(x) == rightKey(h) })
	})
	u.Packages = slices.DeleteFunc(u.Packages, func(p accessPackage) bool { return slices.Contains(cr.UnwantedPackages, p) })
	cr.Status = requestAccepted
	return nil
}
