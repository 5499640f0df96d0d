package sandbox

import (
	"crypto/rsa"
	"net/http"
	"sync"
	"time"
)

// The Altinn half of the sandbox (altinn-api.md §9): System Register, system user requests, vendor
// lookups of system users, the Maskinporten → Altinn token exchange and the approval page. All state
// lives in one altinn value behind one mutex; handlers take the lock once per request, so every
// decision (e.g. §4.1's "exists? else create") is atomic.

// altinnAPI is the path prefix of the Altinn authentication API under the sandbox base URL.
const altinnAPI = "/altinn/authentication/api/v1/"

// Catalogue of the sandbox's Resource Registry and access packages. Tests use these names to produce
// the validation codes of altinn-api.md §2.
const (
	// ResourceExample is a delegable resource ("example-resource").
	ResourceExample = "example-resource"
	// ResourceSkatt is a second delegable resource.
	ResourceSkatt = "ske-krav-og-betalinger"
	// ResourceMaskinportenSchema is a resource of type MaskinportenSchema: not delegable (AUTH.VLD-00017).
	ResourceMaskinportenSchema = "sandbox-maskinporten-schema"
	// PackageAssignable is an access package a standard system user may get.
	PackageAssignable = "urn:altinn:accesspackage:skattegrunnlag"
	// PackageClientRelation is a client-relation package: delegable to agent system users only, so
	// registering it with isVisible:true gives AUTH.VLD-00018 and requesting it on a standard request
	// gives AUTH-00064.
	PackageClientRelation = "urn:altinn:accesspackage:regnskapsforer-med-signeringsrettighet"
	// PackageNotAssignable is neither delegable nor assignable (AUTH.VLD-00008).
	PackageNotAssignable = "urn:altinn:accesspackage:hovedadministrator"
)

// resourceKind is a Resource Registry resource type.
type resourceKind int

const (
	resourceGeneric            resourceKind = iota + 1 // delegable
	resourceMaskinportenSchema                         // not delegable to system users
)

// packageInfo says how an access package may be used.
type packageInfo struct{ assignable, delegable, clientRelation bool }

// altinn is the Altinn state. Zero maps are filled by newAltinn.
type altinn struct {
	s *Sandbox

	mu       sync.Mutex
	systems  map[string]*system        // by system id, deleted ones kept (ids are unique forever)
	users    map[string]*systemUser    // by id (= the request id that created it)
	requests map[string]*sysRequest    // by id
	changes  map[string]*changeRequest // change requests by correlation id (altinn-api.md §4.5)
	orgs     map[string]string         // Register: org number → name
	seq      int                       // creation order of requests and users, for paging

	failApprovals bool
	csrf          map[string]csrfToken // approval page tokens, one per rendered page

	resources map[string]resourceKind
	packages  map[string]packageInfo

	keyOnce sync.Once
	key     *rsa.PrivateKey // signs exchanged Altinn tokens
	kid     string
	keyErr  error
}

// system is a System Register entry.
type system struct {
	ID           string
	VendorOrg    string
	ClientIDs    []string
	Deleted      bool
	InternalID   string // the UUID POST returns
	Name         map[string]string
	Description  map[string]string
	Rights       []sysRight
	Packages     []accessPackage
	IsVisible    bool
	RedirectURLs []string // normalised
}

// systemUser is a standard system user, created by approving a request.
type systemUser struct {
	ID               string
	SystemID         string
	OwnerOrg         string
	ExternalRef      string
	Deleted          bool
	IntegrationTitle string
	Created          time.Time
	seq              int
	// Rights and Packages are the system user's delegations: those of the request that created it,
	// changed by accepted change requests. The vendor API does not show them (altinn-api.md §5);
	// SystemUserRights does, for tests.
	Rights   []sysRight
	Packages []accessPackage
}

// sysRequest is a vendor's system user request.
type sysRequest struct {
	ID               string
	SystemID         string
	PartyOrgNo       string
	ExternalRef      string // never empty: defaults to PartyOrgNo
	IntegrationTitle string
	RedirectURL      string
	Rights           []sysRight
	Packages         []accessPackage
	Status           string // New, Accepted, Rejected
	Escalated        bool
	Deleted          bool
	Created          time.Time
	seq              int
}

// Request statuses (altinn-api.md §4.2).
const (
	requestNew      = "New"
	requestAccepted = "Accepted"
	requestRejected = "Rejected"
)

// sysRight is one right of a system or request: an optional action and resource attributes.
type sysRight struct {
	Action   string          `json:"action,omitempty"`
	Resource []resourceMatch `json:"resource"`
}

// resourceMatch is one attribute of a right, normally {"id":"urn:altinn:resource","value":<resource>}.
type resourceMatch struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// accessPackage names an access package by URN.
type accessPackage struct {
	URN string `json:"urn"`
}

func newAltinn(s *Sandbox) *altinn {
	return &altinn{
		s:        s,
		systems:  map[string]*system{},
		users:    map[string]*systemUser{},
		requests: map[string]*sysRequest{},
		changes:  map[string]*changeRequest{},
		orgs:     map[string]string{},
		csrf:     map[string]csrfToken{},
		resources: map[string]resourceKind{
			ResourceExample:            resourceGeneric,
			ResourceSkatt:              resourceGeneric,
			ResourceMaskinportenSchema: resourceMaskinportenSchema,
		},
		packages: map[string]packageInfo{
			PackageAssignable:     {assignable: true},
			PackageClientRelation: {delegable: true, clientRelation: true},
			PackageNotAssignable:  {},
		},
	}
}

// routes registers the Altinn endpoints and the approval page.
func (a *altinn) routes(mux *http.ServeMux) {
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, a.logged(h)) }
	const sr = altinnAPI + "systemregister/vendor"
	writeSR := []string{scopeRegisterWrite, scopeRegisterAdmin}
	handle("POST "+sr, a.authed(writeSR, consumerForbidden, a.createSystem))
	handle("GET "+sr, a.authed(writeSR, consumerForbidden, a.listSystems))
	handle("GET "+sr+"/{systemId}", a.authed(writeSR, consumerForbidden, a.getSystem))
	handle("PUT "+sr+"/{systemId}", a.authed(writeSR, consumerForbidden, a.putSystem))
	handle("DELETE "+sr+"/{systemId}", a.authed(writeSR, consumerForbidden, a.deleteSystem))

	const rq = altinnAPI + "systemuser/request/vendor"
	write, read := []string{scopeRequestWrite}, []string{scopeRequestRead}
	handle("POST "+rq, a.authed(write, consumerProblem, a.createRequest))
	handle("GET "+rq+"/{requestId}", a.authed(read, consumerUnauthorized, a.getRequest))
	handle("DELETE "+rq+"/{requestId}", a.authed(write, consumerUnauthorized, a.deleteRequest))
	handle("GET "+rq+"/byexternalref/{systemId}/{orgNo}/{externalRef}", a.authed(read, consumerUnauthorized, a.getRequestByRef))
	handle("GET "+rq+"/bysystem/{systemId}", a.authed(read, consumerUnauthorized, a.listRequests))

	const su = altinnAPI + "systemuser/vendor"
	handle("GET "+su+"/byquery", a.authed(write, consumerUnauthorized, a.userByQuery))
	handle("GET "+su+"/bysystem/{systemId}", a.authed(writeSR, consumerUnauthorized, a.usersBySystem))

	handle("GET "+altinnAPI+"exchange/{provider}", http.HandlerFunc(a.exchange))
	handle("GET "+altinnAPI+"openid/.well-known/openid-configuration", http.HandlerFunc(a.openIDConfig))
	handle("GET "+altinnAPI+"openid/.well-known/openid-configuration/jwks", http.HandlerFunc(a.jwks))

	const cr = altinnAPI + "systemuser/changerequest/vendor"
	handle("POST "+cr, a.authed(write, consumerLate, a.createChange))
	handle("GET "+cr+"/{changeId}", a.authed(read, consumerUnauthorized, a.getChange))
	handle("DELETE "+cr+"/{changeId}", a.authed(write, consumerUnauthorized, a.deleteChange))
	handle("GET "+cr+"/byexternalref/{systemId}/{orgNo}/{externalRef}", a.authed(read, consumerUnauthorized, a.getChangeByRef))
	handle("GET "+cr+"/bysystem/{systemId}", a.authed(read, consumerUnauthorized, a.listChanges))

	handle("GET "+approvalPath, http.HandlerFunc(a.approvalPage))
	handle("POST "+approvalPath, http.NewCrossOriginProtection().Handler(http.HandlerFunc(a.approvalSubmit)))
	handle("GET "+changeApprovalPath, http.HandlerFunc(a.changeApprovalPage))
	handle("POST "+changeApprovalPath, http.NewCrossOriginProtection().Handler(http.HandlerFunc(a.changeApprovalSubmit)))
}

// logged logs one line per request: method, path and status; never headers, query or body.
func (a *altinn) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &altinnRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		a.s.log.Info("sandbox altinn: request", "method", r.Method, "path", r.URL.Path, "status", rec.status)
	})
}

// altinnRecorder remembers the status a handler wrote.
type altinnRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status and passes it on.
func (r *altinnRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *altinnRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// matchSystemUser is altinn-api.md §6: the lookup Maskinporten makes for a system-user grant.
// externalRef "" means the owner org number.
func (a *altinn) matchSystemUser(clientID, vendorOrg, ownerOrg, externalRef string) (userID, systemID string, ok bool) {
	if externalRef == "" {
		externalRef = ownerOrg
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range a.users {
		sys := a.systems[u.SystemID]
		if u.Deleted || sys == nil || sys.Deleted || u.OwnerOrg != ownerOrg || sys.VendorOrg != vendorOrg || u.ExternalRef != externalRef {
			continue
		}
		for _, c := range sys.ClientIDs {
			if c == clientID {
				return u.ID, sys.ID, true
			}
		}
	}
	return "", "", false
}

// liveUser returns the live system user with key (systemID, ownerOrg, externalRef), or nil. a.mu held.
func (a *altinn) liveUser(systemID, ownerOrg, externalRef string) *systemUser {
	for _, u := range a.users {
		if !u.Deleted && u.SystemID == systemID && u.OwnerOrg == ownerOrg && u.ExternalRef == externalRef {
			return u
		}
	}
	return nil
}

// liveRequest returns the non-deleted request with key (systemID, partyOrgNo, externalRef), or nil.
// a.mu held.
func (a *altinn) liveRequest(systemID, partyOrgNo, externalRef string) *sysRequest {
	for _, r := range a.requests {
		if !r.Deleted && r.SystemID == systemID && r.PartyOrgNo == partyOrgNo && r.ExternalRef == externalRef {
			return r
		}
	}
	return nil
}

// nextSeq returns the next creation sequence number. a.mu held.
func (a *altinn) nextSeq() int {
	a.seq++
	return a.seq
}

// timedOut reports whether a New request is older than Options.RequestTimeout (§4.2: timedOut:true,
// status unchanged).
func (a *altinn) timedOut(r *sysRequest) bool {
	return r.Status == requestNew && a.s.now().Sub(r.Created) > a.s.opts.RequestTimeout
}

// altinnTime formats a timestamp as Altinn does: UTC, microseconds, Z.
func altinnTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }
