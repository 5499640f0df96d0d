package sandbox

import (
	"maps"
	"net/http"
	"slices"
	"strings"
)

// System Register, vendor side (altinn-api.md §3).

// systemDTO is GET systemregister/vendor/{id} (RegisteredSystemResponse; vendor without authority).
type systemDTO struct {
	ID                  string            `json:"id"`
	Vendor              vendorIDOnly      `json:"vendor"`
	Name                map[string]string `json:"name"`
	Description         map[string]string `json:"description"`
	Rights              []sysRight        `json:"rights"`
	AccessPackages      []accessPackage   `json:"accessPackages"`
	IsDeleted           bool              `json:"isDeleted"`
	ClientID            []string          `json:"clientId"`
	IsVisible           bool              `json:"isVisible"`
	AllowedRedirectURLs []string          `json:"allowedRedirectUrls"`
}

type vendorIDOnly struct {
	ID string `json:"ID"`
}

// systemListDTO is one entry of GET systemregister/vendor (RegisteredSystemDTO): no client ids.
type systemListDTO struct {
	SystemID              string            `json:"systemId"`
	SystemVendorOrgNumber string            `json:"systemVendorOrgNumber"`
	SystemVendorOrgName   string            `json:"systemVendorOrgName"`
	Name                  map[string]string `json:"name"`
	Description           map[string]string `json:"description"`
	Rights                []sysRight        `json:"rights"`
	AccessPackages        []accessPackage   `json:"accessPackages"`
	IsVisible             bool              `json:"isVisible"`
}

// decodeSystem reads and trims a RegisterSystemRequest; on a bad or incomplete body it answers 400.
func (a *altinn) decodeSystem(w http.ResponseWriter, r *http.Request) (*systemBody, bool) {
	var b systemBody
	if e := altinnDecode(w, r, &b); e != nil {
		a.validation(w, []validationError{*e})
		return nil, false
	}
	b.trim()
	if errs := b.missing(); len(errs) > 0 {
		a.validation(w, errs)
		return nil, false
	}
	return &b, true
}

// createSystem is POST systemregister/vendor. Order (R1): bad vendor.ID prefix → 400 at once; all
// checks; owner check (403 beats 400); one 400 with every error; 200 + the internal UUID as a JSON string.
func (a *altinn) createSystem(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	b, ok := a.decodeSystem(w, r)
	if !ok {
		return
	}
	vendorOrg, ok := strings.CutPrefix(b.Vendor.ID, "0192:")
	if !ok {
		a.validation(w, []validationError{vldErr(0, pathVendorID, "The vendor id must start with 0192:.", b.Vendor.ID)})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	errs := a.checkID(*b.ID, vendorOrg)
	errs = append(errs, checkAltinnLanguages(pathName, b.Name)...)
	errs = append(errs, checkAltinnLanguages(pathDescription, b.Description)...)
	errs = append(errs, a.checkRights(b.Rights)...)
	errs = append(errs, a.checkPackages(b.AccessPackages, b.visible())...)
	errs = append(errs, a.checkClients(b.ClientID, "", false)...)
	errs = append(errs, checkAltinnRedirects(b.AllowedRedirectURLs)...)
	if !c.owns(vendorOrg) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if len(errs) > 0 {
		a.validation(w, errs)
		return
	}
	sys := &system{ID: *b.ID, VendorOrg: vendorOrg, InternalID: newUUID()}
	applySystemBody(sys, b)
	a.systems[sys.ID] = sys
	altinnJSON(w, http.StatusOK, sys.InternalID)
}

// applySystemBody copies every replaceable field of b into sys (PUT replaces all).
func applySystemBody(sys *system, b *systemBody) {
	sys.Name = maps.Clone(b.Name)
	sys.Description = maps.Clone(b.Description)
	sys.Rights = slices.Clone(b.Rights)
	sys.Packages = slices.Clone(b.AccessPackages)
	sys.ClientIDs = slices.Clone(b.ClientID) // omitted ⇒ empty ⇒ no tokens
	sys.IsVisible = b.visible()
	sys.RedirectURLs = normaliseAltinnURLs(b.AllowedRedirectURLs)
}

// getSystem is GET systemregister/vendor/{id}: unknown → 404 empty, another vendor's → 403; deleted
// systems are shown with isDeleted:true.
func (a *altinn) getSystem(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[r.PathValue("systemId")]
	if sys == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !c.owns(sys.VendorOrg) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	altinnJSON(w, http.StatusOK, systemDTO{
		ID: sys.ID, Vendor: vendorIDOnly{ID: "0192:" + sys.VendorOrg}, Name: sys.Name, Description: sys.Description,
		Rights: altinnNonNil(sys.Rights), AccessPackages: altinnNonNil(sys.Packages), IsDeleted: sys.Deleted,
		ClientID: altinnNonNil(sys.ClientIDs), IsVisible: sys.IsVisible, AllowedRedirectURLs: altinnNonNil(sys.RedirectURLs),
	})
}

// listSystems is GET systemregister/vendor: the caller's live systems in the list shape.
func (a *altinn) listSystems(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []systemListDTO{}
	for _, id := range slices.Sorted(maps.Keys(a.systems)) {
		sys := a.systems[id]
		if sys.Deleted || sys.VendorOrg != c.org {
			continue
		}
		out = append(out, systemListDTO{
			SystemID: sys.ID, SystemVendorOrgNumber: sys.VendorOrg, SystemVendorOrgName: a.orgs[sys.VendorOrg],
			Name: sys.Name, Description: sys.Description, Rights: altinnNonNil(sys.Rights),
			AccessPackages: altinnNonNil(sys.Packages), IsVisible: sys.IsVisible,
		})
	}
	altinnJSON(w, http.StatusOK, out)
}

// putSystem is PUT systemregister/vendor/{id}: replaces everything. Unknown → 404 string; not owner →
// 403; vendor mismatch → 404; id mismatch → VLD-00012; deleted → 400 string; then rights, packages,
// VLD 04/11 (id and URL formats are not rechecked).
func (a *altinn) putSystem(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	id := r.PathValue("systemId")
	b, ok := a.decodeSystem(w, r)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[id]
	switch {
	case sys == nil:
		altinnText(w, http.StatusNotFound, "System not found")
		return
	case !c.owns(sys.VendorOrg):
		w.WriteHeader(http.StatusForbidden)
		return
	case b.Vendor.ID != "0192:"+sys.VendorOrg:
		altinnText(w, http.StatusNotFound, "The vendor of the system does not match the vendor in the body")
		return
	case *b.ID != id:
		a.validation(w, []validationError{vldErr(12, pathSystemID, "The system id in the body does not match the id in the path.", *b.ID)})
		return
	case sys.Deleted:
		altinnText(w, http.StatusBadRequest, "System is deleted")
		return
	}
	errs := checkAltinnLanguages(pathName, b.Name)
	errs = append(errs, checkAltinnLanguages(pathDescription, b.Description)...)
	errs = append(errs, a.checkRights(b.Rights)...)
	errs = append(errs, a.checkPackages(b.AccessPackages, b.visible())...)
	errs = append(errs, a.checkClients(b.ClientID, id, true)...)
	if len(errs) > 0 {
		a.validation(w, errs)
		return
	}
	applySystemBody(sys, b)
	altinnJSON(w, http.StatusOK, map[string]bool{"succeeded": true})
}

// deleteSystem is DELETE systemregister/vendor/{id}: soft delete; frees the client ids, keeps the id.
func (a *altinn) deleteSystem(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[r.PathValue("systemId")]
	if sys == nil {
		altinnErrorsProblem(w, "return", "System not found")
		return
	}
	if !c.owns(sys.VendorOrg) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	sys.Deleted = true
	altinnJSON(w, http.StatusOK, map[string]bool{"succeeded": true})
}
