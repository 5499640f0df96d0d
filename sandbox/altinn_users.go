package sandbox

import (
	"net/http"
	"slices"
	"strconv"
)

// System users as seen by their vendor (altinn-api.md §5), and the paging shared with request lists.

// systemUserDTO is SystemUserExternalDTO (examples/altinn/systemuser-byquery.json).
type systemUserDTO struct {
	ID               string `json:"id"`
	IntegrationTitle string `json:"integrationTitle"`
	SystemID         string `json:"systemId"`
	ProductName      string `json:"productName"`
	ReporteeOrgNo    string `json:"reporteeOrgNo"`
	Created          string `json:"created"`
	IsDeleted        bool   `json:"isDeleted"`
	SupplierName     string `json:"supplierName"`
	SupplierOrgno    string `json:"supplierOrgno"`
	ExternalRef      string `json:"externalRef"`
	UserType         string `json:"userType"`
}

// userDTO renders a system user. a.mu held.
func (a *altinn) userDTO(u *systemUser) systemUserDTO {
	d := systemUserDTO{
		ID: u.ID, IntegrationTitle: u.IntegrationTitle, SystemID: u.SystemID, ReporteeOrgNo: u.OwnerOrg,
		Created: altinnTime(u.Created), IsDeleted: u.Deleted, ExternalRef: u.ExternalRef, UserType: "standard",
	}
	if sys := a.systems[u.SystemID]; sys != nil {
		d.SupplierOrgno = sys.VendorOrg
	}
	return d
}

// userByQuery is GET systemuser/vendor/byquery?system-id=&orgno=[&external-ref=]: 200 with the one
// live system user, else 404 empty, also for another vendor's system.
func (a *altinn) userByQuery(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	q := r.URL.Query()
	sysID, org, ref := q.Get("system-id"), q.Get("orgno"), q.Get("external-ref")
	var errs []validationError
	if sysID == "" {
		errs = append(errs, altinnRequired("/system-id"))
	}
	if org == "" {
		errs = append(errs, altinnRequired("/orgno"))
	}
	if len(errs) > 0 {
		a.validation(w, errs)
		return
	}
	if ref == "" {
		ref = org
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	sys := a.systems[sysID]
	u := a.liveUser(sysID, org, ref)
	if sys == nil || sys.VendorOrg != c.org || u == nil {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	altinnJSON(w, http.StatusOK, a.userDTO(u))
}

// usersBySystem is GET systemuser/vendor/bysystem/{systemId}: the live system users, paged; unknown
// or another vendor's system → 404 AUTH-00011.
func (a *altinn) usersBySystem(w http.ResponseWriter, r *http.Request, c vendorCaller) {
	sysID := r.PathValue("systemId")
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.vendorSystem(w, sysID, c) {
		return
	}
	var all []*systemUser
	for _, u := range a.users {
		if !u.Deleted && u.SystemID == sysID {
			all = append(all, u)
		}
	}
	servePaged(a, w, r, all, func(u *systemUser) int { return u.seq }, a.userDTO)
}

// servePaged writes one page of items, in creation order (seq), as {links:{next}, data:[dto(item)…]}.
func servePaged[T, D any](a *altinn, w http.ResponseWriter, r *http.Request, items []T, seq func(T) int, dto func(T) D) {
	slices.SortFunc(items, func(x, y T) int { return seq(x) - seq(y) })
	page, next, ok := altinnPage(a, w, r, items, seq)
	if !ok {
		return
	}
	data := make([]D, 0, len(page))
	for _, it := range page {
		data = append(data, dto(it))
	}
	altinnJSON(w, http.StatusOK, pagedList[D]{Links: pageLinks{Next: next}, Data: data})
}

// vendorSystem reports whether sysID is a system of the calling vendor; otherwise it answers 404
// AUTH-00011, which Altinn gives for unknown systems and other vendors' alike. The caller holds a.mu.
func (a *altinn) vendorSystem(w http.ResponseWriter, sysID string, c vendorCaller) bool {
	if sys := a.systems[sysID]; sys == nil || sys.VendorOrg != c.org {
		a.problem(w, codeSystemUnknown, "The Id does not refer to a Registered System.")
		return false
	}
	return true
}

// pagedList is Altinn's Paginated<T>: {"links":{"next":…},"data":[…]}; next is omitted on the last
// page (Altinn omits nulls).
type pagedList[T any] struct {
	Links pageLinks `json:"links"`
	Data  []T       `json:"data"`
}

type pageLinks struct {
	Next string `json:"next,omitempty"`
}

// altinnPage cuts one page of Options.PageSize out of items (sorted by seq), starting after the
// continuation token ?token=<seq>. It returns the page and the absolute URL of the next page, or "".
// A bad token gets a 400 and ok=false.
func altinnPage[T any](a *altinn, w http.ResponseWriter, r *http.Request, items []T, seq func(T) int) (page []T, next string, ok bool) {
	after := 0
	if tok := r.URL.Query().Get("token"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			a.validation(w, []validationError{{Code: vldBadJSON, Paths: []string{"/token"},
				Title: "The continuation token is not valid."}})
			return nil, "", false
		}
		after = n
	}
	i := 0
	for i < len(items) && seq(items[i]) <= after {
		i++
	}
	items = items[i:]
	size := a.s.opts.PageSize
	if len(items) > size {
		next = a.s.URL() + r.URL.Path + "?token=" + strconv.Itoa(seq(items[size-1]))
		items = items[:size]
	}
	return items, next, true
}
