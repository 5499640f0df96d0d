package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The Altinn admin and driver API: what Digdir, the Register and an organisation's administrator do
// outside the vendor API, plus snapshots for tests.

// AddOrganization puts an organisation in the sandbox's Register (AUTH-00000 otherwise). The consumer
// org of every token the Altinn endpoints accept is added automatically, with an empty name.
func (s *Sandbox) AddOrganization(orgNo, name string) {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	a.orgs[orgNo] = name
}

// SystemSeed is a system to put straight into the System Register.
type SystemSeed struct {
	// ID is the system id, "<vendor orgno>_<name>".
	ID string
	// VendorOrg defaults to the part of ID before the first "_".
	VendorOrg string
	// ClientIDs are the Maskinporten client ids allowed to get tokens for the system's users.
	ClientIDs []string
	// Name defaults to ID in nb, nn and en. A name without "nb" makes approvals fail (AUTH-00017).
	Name map[string]string
	// Rights are resource ids (e.g. ResourceExample), one right each.
	Rights []string
	// AccessPackages are package URNs (e.g. PackageAssignable).
	AccessPackages []string
	// RedirectURLs are the allowed redirect URLs (absolute https).
	RedirectURLs []string
}

// SeedSystem registers a system without HTTP, with the same checks as POST except the owner check and
// the strict language rule. isVisible is false.
func (s *Sandbox) SeedSystem(seed SystemSeed) error {
	vendor := seed.VendorOrg
	if vendor == "" {
		vendor, _, _ = strings.Cut(seed.ID, "_")
	}
	name := seed.Name
	if name == nil {
		name = map[string]string{"nb": seed.ID, "nn": seed.ID, "en": seed.ID}
	}
	sys := &system{
		ID: seed.ID, VendorOrg: vendor, InternalID: newUUID(), Name: maps.Clone(name), Description: maps.Clone(name),
		ClientIDs: slices.Clone(seed.ClientIDs), RedirectURLs: normaliseAltinnURLs(seed.RedirectURLs),
	}
	for _, res := range seed.Rights {
		sys.Rights = append(sys.Rights, sysRight{Resource: []resourceMatch{{ID: "urn:altinn:resource", Value: res}}})
	}
	for _, p := range seed.AccessPackages {
		sys.Packages = append(sys.Packages, accessPackage{URN: p})
	}
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := a.checkID(seed.ID, vendor)
	errs = append(errs, a.checkRights(sys.Rights)...)
	errs = append(errs, a.checkPackages(sys.Packages, false)...)
	errs = append(errs, a.checkClients(seed.ClientIDs, "", true)...)
	errs = append(errs, checkAltinnRedirects(seed.RedirectURLs)...)
	if len(errs) > 0 {
		return fmt.Errorf("sandbox altinn: seed system %q: %w", seed.ID, altinnValidationErrs(errs))
	}
	a.systems[sys.ID] = sys
	if _, ok := a.orgs[vendor]; !ok {
		a.orgs[vendor] = ""
	}
	return nil
}

// altinnValidationErrs joins validation errors into one error naming every code and detail.
func altinnValidationErrs(errs []validationError) error {
	var out []error
	for _, e := range errs {
		out = append(out, fmt.Errorf("%s %s (%s)", e.Code, e.Title, e.Detail))
	}
	return errors.Join(out...)
}

// SeedSystemUser creates an accepted request and its system user for (systemID, ownerOrg, externalRef)
// with all of the system's rights and packages, and returns the system user id. externalRef ""
// means ownerOrg.
func (s *Sandbox) SeedSystemUser(systemID, ownerOrg, externalRef string) (string, error) {
	if externalRef == "" {
		externalRef = ownerOrg
	}
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[systemID]
	if sys == nil {
		return "", fmt.Errorf("sandbox altinn: seed system user: %w; seed the system first",
			newAltinnError(codeSystemUnknown, "system "+systemID+" is not registered"))
	}
	if a.liveUser(systemID, ownerOrg, externalRef) != nil {
		return "", fmt.Errorf("sandbox altinn: seed system user: %w",
			newAltinnError(codeUserExists, "a system user for this system, org and externalRef exists"))
	}
	now := s.now()
	rq := &sysRequest{
		ID: newUUID(), SystemID: systemID, PartyOrgNo: ownerOrg, ExternalRef: externalRef,
		IntegrationTitle: sys.Name["nb"], Rights: slices.Clone(sys.Rights), Packages: slices.Clone(sys.Packages),
		Status: requestAccepted, Created: now, seq: a.nextSeq(),
	}
	a.requests[rq.ID] = rq
	a.createUser(rq)
	if _, ok := a.orgs[ownerOrg]; !ok {
		a.orgs[ownerOrg] = ""
	}
	return rq.ID, nil
}

// createUser creates the system user of an accepted request: same id, same externalRef. a.mu held.
func (a *altinn) createUser(rq *sysRequest) {
	a.users[rq.ID] = &systemUser{
		ID: rq.ID, SystemID: rq.SystemID, OwnerOrg: rq.PartyOrgNo, ExternalRef: rq.ExternalRef,
		IntegrationTitle: rq.IntegrationTitle, Created: a.s.now(), seq: a.nextSeq(),
		Rights: slices.Clone(rq.Rights), Packages: slices.Clone(rq.Packages),
	}
}

// Approve approves a request as an administrator of its org would at the confirm URL. It fails with
// an *AltinnError: AUTH-00010 unknown, AUTH-00013 (409) not New or timed out, AUTH-00017 no nb name,
// AUTH-00016 (403) when FailApprovals is on (the request stays New and becomes escalated).
func (s *Sandbox) Approve(requestID string) error { return s.altinn.decide(requestID, true) }

// Reject rejects a request; AUTH-00013 (409) if it is not New.
func (s *Sandbox) Reject(requestID string) error { return s.altinn.decide(requestID, false) }

// FailApprovals makes every approval fail the delegation check (AUTH-00016): the request stays New
// and is marked escalated, as when the approver lacks a right and escalates.
func (s *Sandbox) FailApprovals(on bool) {
	s.altinn.mu.Lock()
	s.altinn.failApprovals = on
	s.altinn.mu.Unlock()
}

// decide approves or rejects a request.
func (a *altinn) decide(id string, approve bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	rq := a.requests[id]
	switch {
	case rq == nil || rq.Deleted:
		return newAltinnError(codeRequestUnknown, "the request was not found")
	case rq.Status != requestNew:
		return newAltinnError(codeNotNew, "the request is "+rq.Status+", not New")
	case a.timedOut(rq):
		return newAltinnError(codeNotNew, "the request has timed out")
	case !approve:
		rq.Status = requestRejected
		return nil
	}
	if sys := a.systems[rq.SystemID]; sys == nil || sys.Name["nb"] == "" {
		return newAltinnError(codeNoNbName, "the system has no nb name")
	}
	if a.failApprovals {
		rq.Escalated = true
		return newAltinnError(codeDelegation, "the approver may not delegate every requested right (escalated)")
	}
	if a.liveUser(rq.SystemID, rq.PartyOrgNo, rq.ExternalRef) != nil {
		return newAltinnError(codeUserExists, "a system user for this system, org and externalRef exists")
	}
	rq.Status = requestAccepted
	a.createUser(rq)
	return nil
}

// DeleteSystemUser deletes a system user as its owner does in the portal: the system user and the
// request that created it are soft-deleted, so the next request is new and yields a new id.
func (s *Sandbox) DeleteSystemUser(id string) error {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[id]
	if u == nil || u.Deleted {
		return fmt.Errorf("sandbox altinn: delete system user %s: not found; list them with SystemUsers", id)
	}
	u.Deleted = true
	if rq := a.requests[id]; rq != nil {
		rq.Deleted = true
	}
	return nil
}

// ConfirmURL is the approval page of a request, as in the request's confirmUrl.
func (s *Sandbox) ConfirmURL(requestID string) string {
	return s.URL() + approvalPath + "?id=" + url.QueryEscape(requestID) + "&DONTCHOOSEREPORTEE=true"
}

// SystemView is a snapshot of a registered system.
type SystemView struct {
	ID, VendorOrg, InternalID string
	Name                      map[string]string
	ClientIDs, Rights         []string // Rights: resource ids
	AccessPackages            []string
	RedirectURLs              []string
	IsVisible, Deleted        bool
}

// RequestView is a snapshot of a system user request.
type RequestView struct {
	ID, SystemID, PartyOrgNo, ExternalRef, Status string
	Rights, AccessPackages                        []string
	Escalated, TimedOut, Deleted                  bool
	Created                                       time.Time
}

// SystemUserView is a snapshot of a system user.
type SystemUserView struct {
	ID, SystemID, OwnerOrg, ExternalRef string
	Deleted                             bool
	Created                             time.Time
}

// Systems returns every system, deleted ones included, sorted by id.
func (s *Sandbox) Systems() []SystemView {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []SystemView{}
	for _, id := range slices.Sorted(maps.Keys(a.systems)) {
		sys := a.systems[id]
		out = append(out, SystemView{
			ID: sys.ID, VendorOrg: sys.VendorOrg, InternalID: sys.InternalID, Name: maps.Clone(sys.Name),
			ClientIDs: slices.Clone(sys.ClientIDs), Rights: altinnRightValues(sys.Rights), AccessPackages: altinnPackageURNs(sys.Packages),
			RedirectURLs: slices.Clone(sys.RedirectURLs), IsVisible: sys.IsVisible, Deleted: sys.Deleted,
		})
	}
	return out
}

// Requests returns every request, deleted ones included, in creation order.
func (s *Sandbox) Requests() []RequestView {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	all := slices.SortedFunc(maps.Values(a.requests), func(x, y *sysRequest) int { return x.seq - y.seq })
	out := []RequestView{}
	for _, rq := range all {
		out = append(out, RequestView{
			ID: rq.ID, SystemID: rq.SystemID, PartyOrgNo: rq.PartyOrgNo, ExternalRef: rq.ExternalRef, Status: rq.Status,
			Rights: altinnRightValues(rq.Rights), AccessPackages: altinnPackageURNs(rq.Packages), Escalated: rq.Escalated,
			TimedOut: a.timedOut(rq), Deleted: rq.Deleted, Created: rq.Created,
		})
	}
	return out
}

// SystemUsers returns every system user, deleted ones included, in creation order.
func (s *Sandbox) SystemUsers() []SystemUserView {
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	all := slices.SortedFunc(maps.Values(a.users), func(x, y *systemUser) int { return x.seq - y.seq })
	out := []SystemUserView{}
	for _, u := range all {
		out = append(out, SystemUserView{ID: u.ID, SystemID: u.SystemID, OwnerOrg: u.OwnerOrg,
			ExternalRef: u.ExternalRef, Deleted: u.Deleted, Created: u.Created})
	}
	return out
}

// altinnRightValues flattens rights to their resource values.
func altinnRightValues(rs []sysRight) []string {
	var out []string
	for _, r := range rs {
		for _, m := range r.Resource {
			out = append(out, m.Value)
		}
	}
	return out
}

func altinnPackageURNs(ps []accessPackage) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.URN)
	}
	return out
}
