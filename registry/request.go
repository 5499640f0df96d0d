package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// CreateRequest sends a system user request and reports whether Altinn made a new one (201) or returned
// the existing request for the same system, organisation and externalRef (200; the new body is then
// ignored by Altinn). A system user that already exists is a *ProblemError with CodeSystemUserExists.
//
// Repeating the POST is safe, so the retrying client may resend it: if the first reply was lost, the
// resend finds the stored request and gets it back with 200, never a second request.
func (c *Client) CreateRequest(ctx context.Context, r CreateRequest) (*Request, bool, error) {
	if r.SystemID == "" || r.PartyOrgNo == "" {
		return nil, false, fmt.Errorf("registry: create request: system id and organisation number are required")
	}
	if err := checkRef(r.ExternalRef); err != nil {
		return nil, false, err
	}
	var out Request
	status, err := c.do(ctx, call{op: "create system user request for " + describe(r.SystemID, r.ExternalRef), org: r.PartyOrgNo,
		method: "POST", path: "systemuser/request/vendor", scope: ScopeRequestWrite, body: r, out: &out})
	if err != nil {
		return nil, false, err
	}
	return &out, status == 201, nil
}

// GetRequest reads a request by id; unknown or deleted is ErrNotFound.
func (c *Client) GetRequest(ctx context.Context, id string) (*Request, error) {
	var out Request
	_, err := c.do(ctx, call{op: "read system user request " + id, method: "GET",
		path: "systemuser/request/vendor/" + seg(id), scope: ScopeRequestRead, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRequestByExternalRef reads the live request of system, organisation and externalRef ("" means none:
// the organisation number is used, as Altinn does). None is ErrNotFound.
func (c *Client) GetRequestByExternalRef(ctx context.Context, systemID, orgNo, externalRef string) (*Request, error) {
	if err := checkRef(externalRef); err != nil {
		return nil, err
	}
	ref := externalRef
	if ref == "" {
		ref = orgNo
	}
	var out Request
	_, err := c.do(ctx, call{op: "look up system user request for " + describe(systemID, externalRef), org: orgOf(systemID), method: "GET",
		path:  "systemuser/request/vendor/byexternalref/" + seg(systemID) + "/" + seg(orgNo) + "/" + seg(ref),
		scope: ScopeRequestRead, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRequest deletes a request (soft; an existing system user stays). A request that is already gone
// counts as deleted, so the call can be repeated.
func (c *Client) DeleteRequest(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: "delete system user request " + id, method: "DELETE",
		path: "systemuser/request/vendor/" + seg(id), scope: ScopeRequestWrite})
	if notFound(err) {
		return nil
	}
	return err
}

// SystemUserByQuery finds the live system user of system, organisation and externalRef ("" means none).
// None (also: deleted, or another vendor's) is ErrNotFound.
func (c *Client) SystemUserByQuery(ctx context.Context, systemID, orgNo, externalRef string) (*SystemUser, error) {
	if err := checkRef(externalRef); err != nil {
		return nil, err
	}
	q := url.Values{"system-id": {systemID}, "orgno": {orgNo}}
	if externalRef != "" {
		q.Set("external-ref", externalRef)
	}
	var out SystemUser
	_, err := c.do(ctx, call{op: "look up system user for " + describe(systemID, externalRef), org: orgOf(systemID), method: "GET",
		path: "systemuser/vendor/byquery", query: q, scope: ScopeRequestWrite, out: &out})
	if err != nil {
		return nil, err
	}
	if out.IsDeleted {
		return nil, fmt.Errorf("registry: system user %s of %s is deleted: %w", out.ID, describe(systemID, externalRef), ErrNotFound)
	}
	return &out, nil
}

// checkRef refuses an externalRef Altinn would mishandle: it goes into URL paths and must be exact.
func checkRef(ref string) error {
	if ref == "" {
		return nil
	}
	if strings.Trim(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || ref == "." || ref == ".." {
		return errors.New("registry: externalRef " + fmt.Sprintf("%q", ref) +
			" may only hold letters, digits, '.', '_' and '-': fix system_users[].external_ref in the config")
	}
	return nil
}

func describe(systemID, externalRef string) string {
	if externalRef == "" {
		return systemID
	}
	return systemID + " externalRef " + externalRef
}
