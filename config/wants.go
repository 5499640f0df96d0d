package config

import "fmt"

// Wants is what a system user should hold in Altinn, each entry with the config field it comes from
// (for errors that name the field to fix).
type Wants struct {
	// Rights and RightFields (same length): e.g. system_users[1].rights[0], or system.rights[2] when
	// the system user names no rights and so gets all of the system's.
	Rights      []Right
	RightFields []string
	// AccessPackages and PackageFields (same length).
	AccessPackages []string
	PackageFields  []string
}

// Wants is the grant system user su should hold: its rights, or all of the system's when it names none;
// its access packages, or the system's when it names neither rights nor packages. This is the one home of
// that rule: the request, the change request and doctor's drift check all use it.
func (c *Config) Wants(su SystemUser) Wants {
	idx := -1
	for i, s := range c.SystemUsers {
		if s.Name == su.Name {
			idx = i
		}
	}
	var w Wants
	prefix := fmt.Sprintf("system_users[%d]", idx)
	rights, rightsAt := su.Rights, prefix+".rights"
	pkgs, pkgsAt := su.AccessPackages, prefix+".access_packages"
	if len(rights) == 0 {
		rights, rightsAt = c.System.Rights, "system.rights"
		if len(pkgs) == 0 {
			pkgs, pkgsAt = c.System.AccessPackages, "system.access_packages"
		}
	}
	for i, r := range rights {
		w.Rights = append(w.Rights, r)
		w.RightFields = append(w.RightFields, fmt.Sprintf("%s[%d]", rightsAt, i))
	}
	for i, p := range pkgs {
		w.AccessPackages = append(w.AccessPackages, p)
		w.PackageFields = append(w.PackageFields, fmt.Sprintf("%s[%d]", pkgsAt, i))
	}
	return w
}
