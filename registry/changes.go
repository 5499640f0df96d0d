package registry

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
)

// Change requests (altinn-api.md §4.5): the organisation, as vendor, asks its own administrator to add or
// remove rights and access packages of an existing system user; the system user keeps its id.
//
// Idempotency: the change request's id is a correlation id the client makes. The caller makes it with
// NewCorrelationID and records it (state file) BEFORE calling CreateChangeRequest; a caller killed after
// sending re-sends the same id and Altinn answers the stored change request with 200, so no second one
// is ever made. Retries inside one call are safe for the same reason.

// Change-request codes.
const (
	// CodeSystemUserUnknown: the system user is unknown, deleted, or an agent system user (HTTP 404).
	CodeSystemUserUnknown = "AUTH-00015"
	// CodeChangeIDDecided: the correlation id belongs to another vendor's decided change request (409).
	CodeChangeIDDecided = "AUTH-00061"
	// StatusNoChangeNeeded is the reply to a change request with four empty lists; nothing is stored.
	StatusNoChangeNeeded = "NoChangeNeeded"
)

// Change is the body of a change request: every list optional (sent as [] when empty, never null).
type Change struct {
	RequiredRights         []Right        `json:"requiredRights"`
	UnwantedRights         []Right        `json:"unwantedRights"`
	RequiredAccessPackages AccessPackages `json:"requiredAccessPackages"`
	UnwantedAccessPackages AccessPackages `json:"unwantedAccessPackages"`
	RedirectURL            string         `json:"redirectUrl,omitempty"`
}

// Empty reports whether the change asks for nothing.
func (c Change) Empty() bool {
	return len(c.RequiredRights)+len(c.UnwantedRights)+len(c.RequiredAccessPackages)+len(c.UnwantedAccessPackages) == 0
}

// String lists the change for people: "+ske-krav, - example-resource, + urn:…".
func (c Change) String() string {
	var parts []string
	for _, r := range c.RequiredRights {
		parts = append(parts, "+ "+rightLabel(r))
	}
	for _, p := range c.RequiredAccessPackages {
		parts = append(parts, "+ "+p)
	}
	for _, r := range c.UnwantedRights {
		parts = append(parts, "- "+rightLabel(r))
	}
	for _, p := range c.UnwantedAccessPackages {
		parts = append(parts, "- "+p)
	}
	return strings.Join(parts, ", ")
}

func rightLabel(r Right) string {
	var vals []string
	for _, a := range r.Resource {
		vals = append(vals, a.Value)
	}
	s := strings.Join(vals, "+")
	if r.Action != "" {
		s += " (" + r.Action + ")"
	}
	return s
}

// nonNil returns c with nil lists as empty ones: Altinn dereferences a null list (5xx).
func (c Change) nonNil() Change {
	if c.RequiredRights == nil {
		c.RequiredRights = []Right{}
	}
	if c.UnwantedRights == nil {
		c.UnwantedRights = []Right{}
	}
	if c.RequiredAccessPackages == nil {
		c.RequiredAccessPackages = AccessPackages{}
	}
	if c.UnwantedAccessPackages == nil {
		c.UnwantedAccessPackages = AccessPackages{}
	}
	return c
}

// ChangeRequest is a change request as Altinn returns it.
type ChangeRequest struct {
	ID                     string         `json:"id"`
	ExternalRef            string         `json:"externalRef,omitempty"`
	SystemID               string         `json:"systemId"`
	SystemUserID           string         `json:"systemUserId"`
	PartyOrgNo             string         `json:"partyOrgNo"`
	RequiredRights         []Right        `json:"requiredRights"`
	UnwantedRights         []Right        `json:"unwantedRights"`
	RequiredAccessPackages AccessPackages `json:"requiredAccessPackages"`
	UnwantedAccessPackages AccessPackages `json:"unwantedAccessPackages"`
	Status                 string         `json:"status"`
	RedirectURL            string         `json:"redirectUrl,omitempty"`
	// ConfirmURL is where the organisation's administrator approves the change ("" for NoChangeNeeded).
	ConfirmURL string `json:"confirmUrl"`
	Created    string `json:"created,omitempty"`
	TimedOut   bool   `json:"timedOut"`
}

// Is compares the status case-insensitively.
func (r *ChangeRequest) Is(status string) bool { return strings.EqualFold(r.Status, status) }

// Final reports whether the change request will not change any more.
func (r *ChangeRequest) Final() bool {
	return r.TimedOut || r.Is(StatusAccepted) || r.Is(StatusRejected) || r.Is(StatusDenied) ||
		r.Is(StatusTimedout) || r.Is(StatusNoChangeNeeded)
}

// Change is the change the request asks for.
func (r *ChangeRequest) Change() Change {
	return Change{RequiredRights: r.RequiredRights, UnwantedRights: r.UnwantedRights,
		RequiredAccessPackages: r.RequiredAccessPackages, UnwantedAccessPackages: r.UnwantedAccessPackages}
}

// NewCorrelationID returns a fresh random UUID for a change request. Record it before sending.
func NewCorrelationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("registry: make a change request id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// CreateChangeRequest sends a change request with the caller's correlation id for a system user and
// reports whether Altinn stored a new one (201). A re-send with the same id returns the stored change
// request (200, body ignored); four empty lists return NoChangeNeeded (200, nothing stored). Errors keep
// their codes: AUTH-00015 system user gone, AUTH-00001 a right not on the system, AUTH-00063/64
// packages; an empty 401 also means another vendor's system user.
func (c *Client) CreateChangeRequest(ctx context.Context, correlationID, systemUserID string, ch Change) (*ChangeRequest, bool, error) {
	if !isUUID(correlationID) {
		return nil, false, fmt.Errorf("registry: create change request: correlation id %q is not a UUID (a bug: use NewCorrelationID)", correlationID)
	}
	if !isUUID(systemUserID) || strings.EqualFold(correlationID, systemUserID) {
		return nil, false, fmt.Errorf("registry: create change request: system user id %q is not a UUID other than the correlation id; "+
			"look it up with SystemUserByQuery", systemUserID)
	}
	q := url.Values{"correlation-id": {correlationID}, "system-user-id": {systemUserID}}
	var out ChangeRequest
	status, err := c.do(ctx, call{op: "create change request " + correlationID + " for system user " + systemUserID,
		method: "POST", path: "systemuser/changerequest/vendor", query: q, scope: ScopeRequestWrite, body: ch.nonNil(), out: &out})
	if err != nil {
		return nil, false, err
	}
	return &out, status == 201, nil
}

// GetChangeRequest reads a change request by id; unknown or deleted is ErrNotFound.
func (c *Client) GetChangeRequest(ctx context.Context, id string) (*ChangeRequest, error) {
	var out ChangeRequest
	_, err := c.do(ctx, call{op: "read change request " + id, method: "GET",
		path: "systemuser/changerequest/vendor/" + seg(id), scope: ScopeRequestRead, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangeRequestsBySystem lists the system's live change requests, following Altinn's pages.
func (c *Client) ChangeRequestsBySystem(ctx context.Context, systemID string) ([]ChangeRequest, error) {
	var all []ChangeRequest
	path, query := "systemuser/changerequest/vendor/bysystem/"+seg(systemID), url.Values(nil)
	for range 1000 {
		var page struct {
			Links struct {
				Next string `json:"next"`
			} `json:"links"`
			Data []ChangeRequest `json:"data"`
		}
		_, err := c.do(ctx, call{op: "list change requests of system " + systemID, method: "GET", path: path, query: query,
			scope: ScopeRequestRead, out: &page})
		if err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.Links.Next == "" {
			return all, nil
		}
		if path, query, err = c.nextPage(page.Links.Next); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("registry: list change requests of system %s: more than 1000 pages; is %s really Altinn?", systemID, c.BaseURL)
}

// nextPage turns Altinn's absolute next link into a path below the API base and its query.
func (c *Client) nextPage(next string) (string, url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", nil, fmt.Errorf("registry: unreadable next-page link %q: %w", next, err)
	}
	_, rest, ok := strings.Cut(u.EscapedPath(), "/authentication/api/v1/")
	if !ok {
		return "", nil, fmt.Errorf("registry: next-page link %q is outside the Altinn authentication API", next)
	}
	return rest, u.Query(), nil
}

// DeleteChangeRequest deletes a change request (soft). One already gone counts as deleted.
func (c *Client) DeleteChangeRequest(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: "delete change request " + id, method: "DELETE",
		path: "systemuser/changerequest/vendor/" + seg(id), scope: ScopeRequestWrite})
	if notFound(err) {
		return nil
	}
	return err
}

// WaitForChange polls a change request until it is final, like WaitForApproval.
func (c *Client) WaitForChange(ctx context.Context, id string, o WaitOptions) (*ChangeRequest, error) {
	var last *ChangeRequest
	err := c.poll(ctx, "change request "+id, o, func(ctx context.Context, once *Client) (bool, error) {
		r, err := once.GetChangeRequest(ctx, id)
		if err != nil {
			return false, err
		}
		last = r
		return r.Final(), nil
	})
	return last, err
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return s != "00000000-0000-0000-0000-000000000000"
}
