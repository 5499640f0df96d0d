package registry

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Right is one right as Altinn writes it: an optional action and the resource's attributes.
type Right struct {
	// Action is optional (e.g. "read").
	Action string `json:"action,omitempty"`
	// Resource identifies the resource, normally one attribute urn:altinn:resource = <resource id>.
	Resource []Attribute `json:"resource"`
}

// Attribute is one id/value pair of a right's resource.
type Attribute struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// ResourceRight is the right on the Altinn resource resourceID, with an optional action.
func ResourceRight(resourceID, action string) Right {
	return Right{Action: action, Resource: []Attribute{{ID: "urn:altinn:resource", Value: resourceID}}}
}

// key is a canonical text of the right, for comparing rights as sets.
func (r Right) key() string {
	parts := make([]string, 0, len(r.Resource))
	for _, a := range r.Resource {
		parts = append(parts, strings.TrimSpace(a.ID)+"="+strings.TrimSpace(a.Value))
	}
	return strings.TrimSpace(r.Action) + "|" + strings.Join(parts, ",")
}

// AccessPackages are access package URNs (urn:altinn:accesspackage:<name>). On the wire each is an object
// {"urn": ...}; bare strings are accepted when reading.
type AccessPackages []string

// MarshalJSON writes [{"urn": ...}].
func (p AccessPackages) MarshalJSON() ([]byte, error) {
	out := make([]struct {
		URN string `json:"urn"`
	}, len(p))
	for i, u := range p {
		out[i].URN = u
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads [{"urn": ...}] or ["..."].
func (p *AccessPackages) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("accessPackages: %w", err)
	}
	out := make(AccessPackages, 0, len(raw))
	for _, r := range raw {
		var s string
		if json.Unmarshal(r, &s) == nil {
			out = append(out, s)
			continue
		}
		var o struct {
			URN string `json:"urn"`
		}
		if err := json.Unmarshal(r, &o); err != nil {
			return fmt.Errorf("accessPackages: %w", err)
		}
		out = append(out, o.URN)
	}
	*p = out
	return nil
}

// Texts are texts by language code (nb, nn, en).
type Texts map[string]string

// System is the organisation's system in the System Register.
type System struct {
	// ID is "<organisation number>_<name>".
	ID string
	// VendorOrg is the vendor's 9-digit organisation number: the organisation itself.
	VendorOrg string
	// Name and Description by language; approval needs "nb".
	Name, Description Texts
	// Rights the system may be given.
	Rights []Right
	// AccessPackages the system may be given.
	AccessPackages AccessPackages
	// ClientIDs are the Maskinporten clients that may get tokens for the system's users: ours must be here.
	// EnsureSystem adds them to the ones Altinn lists (other servers' clients stay) unless
	// ReplaceClientIDs is set.
	ClientIDs []string
	// ReplaceClientIDs makes EnsureSystem write exactly ClientIDs, dropping the other clients Altinn lists
	// (to retire a server). By default they are kept: several servers share one system, each with its own
	// Maskinporten client, and onboarding one must not stop the others.
	ReplaceClientIDs bool
	// AllowedRedirectURLs (Altinn stores them normalised, https://x.no → https://x.no/).
	AllowedRedirectURLs []string
	// IsVisible is what Altinn has (read only): EnsureSystem always writes false.
	IsVisible bool
	// IsDeleted is set by GetSystem for a deleted system (read only).
	IsDeleted bool
}

// vendor is the vendor object: authority and the upper-case ID 0192:<orgno>.
type vendor struct {
	Authority string `json:"authority,omitempty"`
	ID        string `json:"ID"`
}

// systemBody is the POST/PUT body of altinn-api.md §3.1: only documented members, in documented case.
type systemBody struct {
	ID                  string         `json:"id"`
	Vendor              vendor         `json:"vendor"`
	Name                Texts          `json:"name"`
	Description         Texts          `json:"description"`
	Rights              []Right        `json:"rights"`
	AccessPackages      AccessPackages `json:"accessPackages"`
	ClientID            []string       `json:"clientId"`
	IsVisible           bool           `json:"isVisible"`
	AllowedRedirectURLs []string       `json:"allowedRedirectUrls"`
}

// systemReply is GET /vendor/{id} (§3.2).
type systemReply struct {
	ID                  string         `json:"id"`
	Vendor              vendor         `json:"vendor"`
	Name                Texts          `json:"name"`
	Description         Texts          `json:"description"`
	Rights              []Right        `json:"rights"`
	AccessPackages      AccessPackages `json:"accessPackages"`
	IsDeleted           bool           `json:"isDeleted"`
	ClientID            []string       `json:"clientId"`
	IsVisible           bool           `json:"isVisible"`
	AllowedRedirectURLs []string       `json:"allowedRedirectUrls"`
}

// Request statuses (altinn-api.md §4.2). Compare with Request.Is: the docs also use lower case.
const (
	StatusNew      = "New"
	StatusAccepted = "Accepted"
	StatusRejected = "Rejected"
	StatusDenied   = "Denied"
	StatusTimedout = "Timedout"
)

// CreateRequest is the body of a system user request (altinn-api.md §4.1).
type CreateRequest struct {
	// SystemID is the organisation's system.
	SystemID string `json:"systemId"`
	// PartyOrgNo is the organisation that will own the system user: the organisation itself.
	PartyOrgNo string `json:"partyOrgNo"`
	// ExternalRef tells several system users of one org and system apart; empty is omitted (Altinn then
	// uses PartyOrgNo). Never sent as "".
	ExternalRef string `json:"externalRef,omitempty"`
	// Rights requested: each equal to one of the system's.
	Rights []Right `json:"rights,omitempty"`
	// AccessPackages requested: each on the system.
	AccessPackages AccessPackages `json:"accessPackages,omitempty"`
	// RedirectURL is optional.
	RedirectURL string `json:"redirectUrl,omitempty"`
	// IntegrationTitle is optional (default: the system's nb name).
	IntegrationTitle string `json:"integrationTitle,omitempty"`
}

// Request is a system user request as Altinn returns it.
type Request struct {
	ID               string         `json:"id"`
	IntegrationTitle string         `json:"integrationTitle,omitempty"`
	ExternalRef      string         `json:"externalRef,omitempty"`
	SystemID         string         `json:"systemId"`
	PartyOrgNo       string         `json:"partyOrgNo"`
	Rights           []Right        `json:"rights,omitempty"`
	AccessPackages   AccessPackages `json:"accessPackages,omitempty"`
	Status           string         `json:"status"`
	RedirectURL      string         `json:"redirectUrl,omitempty"`
	// ConfirmURL is where an administrator of the organisation approves the request.
	ConfirmURL string `json:"confirmUrl"`
	Escalated  bool   `json:"escalated"`
	// Created is as Altinn wrote it.
	Created string `json:"created,omitempty"`
	// TimedOut is set after 180 days without an answer; the status then stays as it was.
	TimedOut bool `json:"timedOut"`
}

// Is compares the status case-insensitively.
func (r *Request) Is(status string) bool { return strings.EqualFold(r.Status, status) }

// Final reports whether the request will not change any more: Accepted, Rejected, Denied, Timedout, or
// timedOut:true.
func (r *Request) Final() bool {
	return r.TimedOut || r.Is(StatusAccepted) || r.Is(StatusRejected) || r.Is(StatusDenied) || r.Is(StatusTimedout)
}

// Waiting reports whether the request still waits for an administrator (New and not timed out).
func (r *Request) Waiting() bool { return !r.Final() }

// SystemUser is a system user as the vendor sees it (altinn-api.md §5).
type SystemUser struct {
	ID               string `json:"id"`
	IntegrationTitle string `json:"integrationTitle,omitempty"`
	SystemID         string `json:"systemId"`
	ProductName      string `json:"productName,omitempty"`
	ReporteeOrgNo    string `json:"reporteeOrgNo"`
	Created          string `json:"created,omitempty"`
	IsDeleted        bool   `json:"isDeleted"`
	SupplierName     string `json:"supplierName,omitempty"`
	SupplierOrgNo    string `json:"supplierOrgno,omitempty"`
	ExternalRef      string `json:"externalRef,omitempty"`
	UserType         string `json:"userType,omitempty"`
}
