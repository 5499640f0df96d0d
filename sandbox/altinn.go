package sandbox

import (
	"net/http"
	"sync"
)

// altinn is the Altinn half of the sandbox. STUB: the Altinn owner replaces this file.
type altinn struct {
	s  *Sandbox
	mu sync.Mutex
	// systems by id; users by id
	systems map[string]*system
	users   map[string]*systemUser
}

type system struct {
	ID        string
	VendorOrg string
	ClientIDs []string
	Deleted   bool
}

type systemUser struct {
	ID          string
	SystemID    string
	OwnerOrg    string
	ExternalRef string
	Deleted     bool
}

func newAltinn(s *Sandbox) *altinn {
	return &altinn{s: s, systems: map[string]*system{}, users: map[string]*systemUser{}}
}

func (a *altinn) routes(mux *http.ServeMux) {}

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
