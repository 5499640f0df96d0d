package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrSystemDeleted means the system id belongs to a deleted system: Altinn never reuses ids.
var ErrSystemDeleted = errors.New("registry: system was deleted in Altinn")

// Outcome is what EnsureSystem did.
type Outcome string

const (
	// Created: the system did not exist and was created (POST).
	Created Outcome = "created"
	// Updated: the system existed and differed; it was replaced (PUT).
	Updated Outcome = "updated"
	// Unchanged: the system existed as wanted; nothing was written.
	Unchanged Outcome = "unchanged"
)

// EnsureResult is the outcome of EnsureSystem.
type EnsureResult struct {
	// Outcome is created, updated or unchanged.
	Outcome Outcome
	// InternalID is Altinn's internal UUID, known only when this call created the system.
	InternalID string
	// Changed names the members that differed (Updated only), e.g. ["clientId", "rights"].
	Changed []string
}

// GetSystem reads the system (deleted ones too, with IsDeleted set). An unknown id is ErrNotFound.
func (c *Client) GetSystem(ctx context.Context, id string) (*System, error) {
	var r systemReply
	_, err := c.do(ctx, call{op: "read system " + id, org: orgOf(id), method: "GET", path: "systemregister/vendor/" + seg(id),
		scope: ScopeSystemRegisterWrite, out: &r})
	if err != nil {
		return nil, err
	}
	return &System{
		ID: r.ID, VendorOrg: strings.TrimPrefix(r.Vendor.ID, "0192:"), Name: r.Name, Description: r.Description,
		Rights: r.Rights, AccessPackages: r.AccessPackages, ClientIDs: r.ClientID,
		AllowedRedirectURLs: r.AllowedRedirectURLs, IsVisible: r.IsVisible, IsDeleted: r.IsDeleted,
	}, nil
}

// EnsureSystem makes Altinn hold s: it reads the system first; creates it when unknown; replaces it in full
// when any member differs (URLs compared normalised). Every write carries s.ClientIDs (ours) plus the
// client ids Altinn already lists (other servers of the organisation; ReplaceClientIDs drops them) and
// isVisible:false. A deleted system is ErrSystemDeleted: its id is burnt and the config needs a new one.
//
// A create whose reply was lost is repeated by the retrying client and then fails with "id taken"
// (VLD-00002) or 409; EnsureSystem then reads the system again and goes on from what it finds, so it
// never creates two systems and never fails because of its own earlier attempt.
func (c *Client) EnsureSystem(ctx context.Context, s System) (EnsureResult, error) {
	if err := checkSystem(s); err != nil {
		return EnsureResult{}, err
	}
	live, err := c.GetSystem(ctx, s.ID)
	if notFound(err) {
		var internalID string
		_, err = c.do(ctx, call{op: "register system " + s.ID, org: orgOf(s.ID), method: "POST", path: "systemregister/vendor",
			scope: ScopeSystemRegisterWrite, body: body(s), out: &internalID})
		if err == nil {
			return EnsureResult{Outcome: Created, InternalID: internalID}, nil
		}
		var pe *ProblemError
		if !errors.As(err, &pe) || !(pe.Has(CodeSystemIDTaken) || pe.Status == 409) {
			return EnsureResult{}, err
		}
		// Taken: by our own earlier attempt (lost reply), a racing run, or a deleted system. Look again.
		live, err = c.GetSystem(ctx, s.ID)
		if notFound(err) {
			return EnsureResult{}, pe
		}
	}
	if err != nil {
		return EnsureResult{}, err
	}
	if live.IsDeleted {
		return EnsureResult{}, fmt.Errorf("%w: system id %s was deleted and Altinn never reuses an id: choose a new system.id in the config (e.g. %s-2) and run again",
			ErrSystemDeleted, s.ID, s.ID)
	}
	if !s.ReplaceClientIDs {
		s.ClientIDs = mergeClientIDs(live.ClientIDs, s.ClientIDs)
	}
	changed := diff(live, &s)
	if len(changed) == 0 {
		return EnsureResult{Outcome: Unchanged}, nil
	}
	_, err = c.do(ctx, call{op: "update system " + s.ID, org: orgOf(s.ID), method: "PUT", path: "systemregister/vendor/" + seg(s.ID),
		scope: ScopeSystemRegisterWrite, body: body(s)})
	if err != nil {
		return EnsureResult{}, err
	}
	return EnsureResult{Outcome: Updated, Changed: changed}, nil
}

// mergeClientIDs is live's client ids (other servers') followed by ours that are not there yet.
func mergeClientIDs(live, ours []string) []string {
	out := slices.Clone(live)
	for _, id := range ours {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// checkSystem refuses what would go wrong upstream with a worse message, before any call.
func checkSystem(s System) error {
	if len(s.VendorOrg) != 9 || strings.Trim(s.VendorOrg, "0123456789") != "" {
		return fmt.Errorf("registry: system vendor %q is not a 9-digit organisation number: fix organization in the config", s.VendorOrg)
	}
	if !strings.HasPrefix(s.ID, s.VendorOrg+"_") || len(s.ID) == len(s.VendorOrg)+1 || strings.ContainsAny(s.ID, " \t/") {
		return fmt.Errorf("registry: system id %q must be %s_<name> with no spaces or slashes: fix system.id in the config", s.ID, s.VendorOrg)
	}
	if len(s.ClientIDs) == 0 || slices.Contains(s.ClientIDs, "") {
		return fmt.Errorf("registry: system %s has no Maskinporten client id, so no token would ever be issued: set maskinporten.client_id in the config", s.ID)
	}
	return nil
}

// body is the POST/PUT body for s: our vendor, our client ids, never visible.
func body(s System) systemBody {
	b := systemBody{
		ID: s.ID, Vendor: vendor{Authority: "iso6523-actorid-upis", ID: "0192:" + s.VendorOrg},
		Name: s.Name, Description: s.Description, Rights: s.Rights, AccessPackages: s.AccessPackages,
		ClientID: s.ClientIDs, IsVisible: false, AllowedRedirectURLs: s.AllowedRedirectURLs,
	}
	if b.Rights == nil {
		b.Rights = []Right{}
	}
	if b.AccessPackages == nil {
		b.AccessPackages = AccessPackages{}
	}
	if b.AllowedRedirectURLs == nil {
		b.AllowedRedirectURLs = []string{}
	}
	return b
}

// diff names the members of live that differ from want, as Altinn would store want.
func diff(live, want *System) []string {
	var d []string
	if !sameTexts(live.Name, want.Name) {
		d = append(d, "name")
	}
	if !sameTexts(live.Description, want.Description) {
		d = append(d, "description")
	}
	rk := func(rs []Right) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.key()
		}
		return out
	}
	if !sameSet(rk(live.Rights), rk(want.Rights)) {
		d = append(d, "rights")
	}
	if !sameSet(live.AccessPackages, want.AccessPackages) {
		d = append(d, "accessPackages")
	}
	if !sameSet(live.ClientIDs, want.ClientIDs) {
		d = append(d, "clientId")
	}
	if live.IsVisible {
		d = append(d, "isVisible")
	}
	norm := func(us []string) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = normalizeURL(u)
		}
		return out
	}
	if !sameSet(norm(live.AllowedRedirectURLs), norm(want.AllowedRedirectURLs)) {
		d = append(d, "allowedRedirectUrls")
	}
	return d
}

// sameTexts compares texts as Altinn stores them: trimmed, empty entries absent.
func sameTexts(a, b Texts) bool {
	clean := func(t Texts) map[string]string {
		m := map[string]string{}
		for k, v := range t {
			if v = strings.TrimSpace(v); v != "" {
				m[strings.ToLower(k)] = v
			}
		}
		return m
	}
	ca, cb := clean(a), clean(b)
	if len(ca) != len(cb) {
		return false
	}
	for k, v := range ca {
		if cb[k] != v {
			return false
		}
	}
	return true
}

// sameSet compares trimmed strings as sets.
func sameSet(a, b []string) bool {
	set := func(xs []string) []string {
		out := make([]string, 0, len(xs))
		for _, x := range xs {
			out = append(out, strings.TrimSpace(x))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(set(a), set(b))
}

// normalizeURL is the URL as Altinn stores it: lower-case scheme and host, "/" for an empty path.
func normalizeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return strings.TrimSpace(s)
	}
	u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}
