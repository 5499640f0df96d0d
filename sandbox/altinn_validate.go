package sandbox

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Validation of System Register bodies (altinn-api.md §3.1, the AUTH.VLD table of §2).

// Error paths (R10 ErrorPathConstant style).
const (
	pathSystemID    = "/registersystemrequest/systemid"
	pathVendorID    = "/registersystemrequest/vendor/id"
	pathName        = "/registersystemrequest/name"
	pathDescription = "/registersystemrequest/description"
	pathRights      = "/registersystemrequest/rights/resource"
	pathPackages    = "/registersystemrequest/accesspackages"
	pathClientID    = "/registersystemrequest/clientid"
	pathRedirect    = "/registersystemrequest/allowedredirecturls"
)

// vld builds one AUTH.VLD validation error; detail names the offending value, if any.
func vldErr(n int, path, title, detail string) validationError {
	return validationError{Code: fmt.Sprintf("AUTH.VLD-%05d", n), Title: title, Paths: []string{path}, Detail: detail}
}

// vendorRef is the body's vendor: {"authority","ID"}.
type vendorRef struct {
	Authority string `json:"authority"`
	ID        string `json:"ID"`
}

// systemBody is RegisterSystemRequest (altinn-api.md §3.1), for POST and PUT.
type systemBody struct {
	ID                  *string           `json:"id"`
	Vendor              *vendorRef        `json:"vendor"`
	Name                map[string]string `json:"name"`
	Description         map[string]string `json:"description"`
	Rights              []sysRight        `json:"rights"`
	AccessPackages      []accessPackage   `json:"accessPackages"`
	ClientID            []string          `json:"clientId"`
	IsVisible           *bool             `json:"isVisible"`
	AllowedRedirectURLs []string          `json:"allowedRedirectUrls"`
}

// trim trims every string, as Altinn's TrimStringsActionFilter does.
func (b *systemBody) trim() {
	if b.ID != nil {
		*b.ID = strings.TrimSpace(*b.ID)
	}
	if b.Vendor != nil {
		b.Vendor.ID = strings.TrimSpace(b.Vendor.ID)
		b.Vendor.Authority = strings.TrimSpace(b.Vendor.Authority)
	}
	for _, m := range []map[string]string{b.Name, b.Description} {
		for k, v := range m {
			m[k] = strings.TrimSpace(v)
		}
	}
	trimAltinnRights(b.Rights)
	for i := range b.AccessPackages {
		b.AccessPackages[i].URN = strings.TrimSpace(b.AccessPackages[i].URN)
	}
	for i := range b.ClientID {
		b.ClientID[i] = strings.TrimSpace(b.ClientID[i])
	}
	for i := range b.AllowedRedirectURLs {
		b.AllowedRedirectURLs[i] = strings.TrimSpace(b.AllowedRedirectURLs[i])
	}
}

func trimAltinnRights(rs []sysRight) {
	for i := range rs {
		rs[i].Action = strings.TrimSpace(rs[i].Action)
		for j := range rs[i].Resource {
			rs[i].Resource[j].ID = strings.TrimSpace(rs[i].Resource[j].ID)
			rs[i].Resource[j].Value = strings.TrimSpace(rs[i].Resource[j].Value)
		}
	}
}

// missing reports required members that are absent.
func (b *systemBody) missing() []validationError {
	var errs []validationError
	if b.ID == nil {
		errs = append(errs, altinnRequired("/id"))
	}
	if b.Vendor == nil {
		errs = append(errs, altinnRequired("/vendor"))
	}
	if b.Name == nil {
		errs = append(errs, altinnRequired("/name"))
	}
	if b.Description == nil {
		errs = append(errs, altinnRequired("/description"))
	}
	return errs
}

// visible is isVisible with its default, true.
func (b *systemBody) visible() bool { return b.IsVisible == nil || *b.IsVisible }

// checkAltinnLanguages is the strict rule: exactly nb, nn and en, none empty.
func checkAltinnLanguages(path string, m map[string]string) []validationError {
	bad := len(m) != 3
	for _, lang := range []string{"nb", "nn", "en"} {
		if m[lang] == "" {
			bad = true
		}
	}
	if !bad {
		return nil
	}
	keys := slices.Sorted(maps.Keys(m))
	return []validationError{{Code: vldLanguages, Paths: []string{path}, Detail: strings.Join(keys, ","),
		Title: "The sandbox requires exactly the languages nb, nn and en, each non-empty."}}
}

// checkID is VLD-00001 (prefix ≠ vendor), 00013 (space) and 00002 (taken, deleted systems included).
// a.mu held.
func (a *altinn) checkID(id, vendorOrg string) []validationError {
	var errs []validationError
	if prefix, _, _ := strings.Cut(id, "_"); prefix != vendorOrg || !strings.Contains(id, "_") {
		errs = append(errs, vldErr(1, pathSystemID, "The system id does not match the format orgnumber_xxxx...", id))
	}
	if strings.ContainsAny(id, " \t") {
		errs = append(errs, vldErr(13, pathSystemID, "The system id must not contain spaces.", id))
	}
	if _, taken := a.systems[id]; taken {
		errs = append(errs, vldErr(2, pathSystemID, "The system id already exists.", id))
	}
	return errs
}

// checkRights is VLD-00003 (unknown), 00009 (attribute id), 00017 (not delegable), 00006 (duplicate).
func (a *altinn) checkRights(rights []sysRight) []validationError {
	var errs []validationError
	seen := map[string]bool{}
	for _, r := range rights {
		if len(r.Resource) == 0 {
			errs = append(errs, vldErr(3, pathRights, "One or more resource id(s) not found in the Resource Registry.", ""))
		}
		for _, m := range r.Resource {
			switch kind, known := a.resources[m.Value]; {
			case m.ID != "urn:altinn:resource":
				errs = append(errs, vldErr(9, pathRights, "The resource attribute id must be urn:altinn:resource.", m.ID))
			case !known:
				errs = append(errs, vldErr(3, pathRights, "One or more resource id(s) not found in the Resource Registry.", m.Value))
			case kind == resourceMaskinportenSchema:
				errs = append(errs, vldErr(17, pathRights, "The resource is not delegable to a system user (resource type).", m.Value))
			}
		}
		if k := rightKey(r); seen[k] {
			errs = append(errs, vldErr(6, pathRights, "One or more duplicate rights found.", k))
		} else {
			seen[k] = true
		}
	}
	return errs
}

// rightKey is a canonical form of a right: action plus its sorted attribute pairs.
func rightKey(r sysRight) string {
	pairs := make([]string, 0, len(r.Resource))
	for _, m := range r.Resource {
		pairs = append(pairs, m.ID+"="+m.Value)
	}
	slices.Sort(pairs)
	return r.Action + "|" + strings.Join(pairs, ",")
}

// checkPackages is VLD-00007 (duplicate), 00008 (malformed, unknown, neither delegable nor assignable)
// and 00018 (isVisible with a client-relation package).
func (a *altinn) checkPackages(pkgs []accessPackage, visible bool) []validationError {
	var errs []validationError
	seen := map[string]bool{}
	for _, p := range pkgs {
		if seen[p.URN] {
			errs = append(errs, vldErr(7, pathPackages, "One or more duplicate access packages found.", p.URN))
			continue
		}
		seen[p.URN] = true
		info, known := a.packages[p.URN]
		switch {
		case len(strings.Split(p.URN, ":")) < 4 || !known || !(info.assignable || info.delegable):
			errs = append(errs, vldErr(8, pathPackages, "The access package is not valid, unknown, or cannot be assigned or delegated.", p.URN))
		case visible && info.clientRelation:
			errs = append(errs, vldErr(18, pathPackages, "A visible system cannot have client-relation access packages.", p.URN))
		}
	}
	return errs
}

// checkClients is VLD-00004 (client id on another live system) and, for PUT, 00011 (duplicates in
// the body). a.mu held.
func (a *altinn) checkClients(clients []string, selfID string, put bool) []validationError {
	var errs []validationError
	seen := map[string]bool{}
	for _, c := range clients {
		if put && seen[c] {
			errs = append(errs, vldErr(11, pathClientID, "Duplicate client ids in the request.", c))
		}
		seen[c] = true
		for _, sys := range a.systems {
			if sys.ID != selfID && !sys.Deleted && slices.Contains(sys.ClientIDs, c) {
				errs = append(errs, vldErr(4, pathClientID, "One of the client id is already tagged with an existing system", c))
				break
			}
		}
	}
	return errs
}

// checkAltinnRedirects is VLD-00005: every URL absolute https.
func checkAltinnRedirects(urls []string) []validationError {
	var errs []validationError
	for _, u := range urls {
		if _, ok := normaliseAltinnURL(u); !ok {
			errs = append(errs, vldErr(5, pathRedirect, "The redirect URL must be an absolute https URL.", u))
		}
	}
	return errs
}

// normaliseAltinnURL returns an absolute https URL in Altinn's stored form (lower-case host, no default port,
// at least "/" as path), or false.
func normaliseAltinnURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.Opaque != "" {
		return "", false
	}
	u.Scheme = "https"
	u.Host = strings.TrimSuffix(strings.ToLower(u.Host), ":443")
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), true
}

// normaliseAltinnURLs normalises what it can and keeps the rest as given (PUT does not recheck formats).
func normaliseAltinnURLs(urls []string) []string {
	out := make([]string, 0, len(urls))
	for _, u := range urls {
		if n, ok := normaliseAltinnURL(u); ok {
			u = n
		}
		out = append(out, u)
	}
	return out
}
