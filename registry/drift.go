package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Drift: what a system user should hold (config) against what Altinn holds.
//
// Altinn's vendor API does not show a system user's delegations (altinn-api.md §5: accessPackages was
// dropped from the DTO, rights were never in it). What the vendor can read is its own paper trail: the
// request that created the system user (same id, its rights and packages) and its change requests
// (required and unwanted lists, status). Held replays that trail: the request's lists, then every
// Accepted change request of the system user in creation order. It is exact for everything done through
// the vendor API; it cannot see a change an administrator makes to the delegations in the portal outside a
// change request. Callers record what was approved in their state as a second witness.

// Held is what Altinn holds for a system user, as far as the vendor API shows it.
type Held struct {
	// Rights and AccessPackages: the creating request's lists with the accepted change requests applied.
	Rights         []Right
	AccessPackages AccessPackages
	// Pending are the system user's change requests still waiting for approval (New, not timed out).
	Pending []ChangeRequest
}

// HeldBy reads the trail of system user systemUserID of systemID. A creating request that is gone (the
// owner deleted the system user, which deletes its request) is ErrNotFound.
func (c *Client) HeldBy(ctx context.Context, systemID, systemUserID string) (*Held, error) {
	rq, err := c.GetRequest(ctx, systemUserID)
	if err != nil {
		return nil, fmt.Errorf("registry: read what system user %s holds: its request: %w", systemUserID, err)
	}
	h := &Held{Rights: slices.Clone(rq.Rights), AccessPackages: slices.Clone(rq.AccessPackages)}
	crs, err := c.ChangeRequestsBySystem(ctx, systemID)
	if err != nil {
		return nil, fmt.Errorf("registry: read what system user %s holds: %w", systemUserID, err)
	}
	for _, cr := range crs {
		if !strings.EqualFold(cr.SystemUserID, systemUserID) {
			continue
		}
		switch {
		case cr.Is(StatusAccepted):
			h.apply(cr.Change())
		case !cr.Final():
			h.Pending = append(h.Pending, cr)
		}
	}
	return h, nil
}

// apply adds required and removes unwanted rights and packages, as Altinn's approval does.
func (h *Held) apply(ch Change) {
	for _, r := range ch.RequiredRights {
		if !containsRight(h.Rights, r) {
			h.Rights = append(h.Rights, r)
		}
	}
	for _, p := range ch.RequiredAccessPackages {
		if !slices.Contains(h.AccessPackages, p) {
			h.AccessPackages = append(h.AccessPackages, p)
		}
	}
	h.Rights = slices.DeleteFunc(h.Rights, func(r Right) bool { return containsRight(ch.UnwantedRights, r) })
	h.AccessPackages = slices.DeleteFunc(h.AccessPackages, func(p string) bool { return slices.Contains(ch.UnwantedAccessPackages, p) })
}

// PendingFor returns the pending change request that asks for exactly ch, or nil.
func (h *Held) PendingFor(ch Change) *ChangeRequest {
	for i := range h.Pending {
		if sameChange(h.Pending[i].Change(), ch) {
			return &h.Pending[i]
		}
	}
	return nil
}

// Wanted is what the config asks for one system user, with the config field of every entry so a refusal
// can name it (e.g. "system_users[0].rights[1]").
type Wanted struct {
	Rights         []Right
	RightFields    []string
	AccessPackages AccessPackages
	PackageFields  []string
}

// PlanChange compares wanted with held and returns the change request body that makes Altinn hold exactly
// what is wanted (an empty Change when nothing differs). Before anything is sent it refuses a wanted right
// or package the system does not carry, naming the config field: Altinn would refuse it (AUTH-00001,
// AUTH-00063) only after a round trip, and the fix is in the config.
func PlanChange(sys *System, want Wanted, held Held) (Change, error) {
	for i, r := range want.Rights {
		if !containsRight(sys.Rights, r) {
			return Change{}, fmt.Errorf("registry: config field %s asks for right %s, which system %s does not have: "+
				"add it to system.rights and run `agent system register`, or remove it from %s",
				field(want.RightFields, i, "system_users[].rights"), rightLabel(r), sys.ID, field(want.RightFields, i, "the config"))
		}
	}
	for i, p := range want.AccessPackages {
		if !slices.Contains(sys.AccessPackages, p) {
			return Change{}, fmt.Errorf("registry: config field %s asks for access package %s, which system %s does not have: "+
				"add it to system.access_packages and run `agent system register`, or remove it from %s",
				field(want.PackageFields, i, "system_users[].access_packages"), p, sys.ID, field(want.PackageFields, i, "the config"))
		}
	}
	var ch Change
	for _, r := range want.Rights {
		if !containsRight(held.Rights, r) && !containsRight(ch.RequiredRights, r) {
			ch.RequiredRights = append(ch.RequiredRights, r)
		}
	}
	for _, r := range held.Rights {
		if !containsRight(want.Rights, r) {
			ch.UnwantedRights = append(ch.UnwantedRights, r)
		}
	}
	for _, p := range want.AccessPackages {
		if !slices.Contains(held.AccessPackages, p) && !slices.Contains(ch.RequiredAccessPackages, p) {
			ch.RequiredAccessPackages = append(ch.RequiredAccessPackages, p)
		}
	}
	for _, p := range held.AccessPackages {
		if !slices.Contains(want.AccessPackages, p) {
			ch.UnwantedAccessPackages = append(ch.UnwantedAccessPackages, p)
		}
	}
	return ch, nil
}

func field(fields []string, i int, fallback string) string {
	if i < len(fields) && fields[i] != "" {
		return fields[i]
	}
	return fallback
}

func containsRight(list []Right, r Right) bool {
	return slices.ContainsFunc(list, func(x Right) bool { return x.key() == r.key() })
}

func sameRights(a, b []Right) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !containsRight(b, r) {
			return false
		}
	}
	return true
}

func sameChange(a, b Change) bool {
	return sameRights(a.RequiredRights, b.RequiredRights) && sameRights(a.UnwantedRights, b.UnwantedRights) &&
		sameSet(a.RequiredAccessPackages, b.RequiredAccessPackages) && sameSet(a.UnwantedAccessPackages, b.UnwantedAccessPackages)
}
