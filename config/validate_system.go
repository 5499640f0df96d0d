package config

import (
	"fmt"
	"strings"
)

func (c *Config) checkSystem(p *problems) {
	s := c.System
	prefix := c.Organization + "_"
	switch name, ok := strings.CutPrefix(s.ID, prefix); {
	case s.ID == "":
		p.add("system.id", "is required: \"<organization>_<name>\", e.g. %s_sap-local", orOrg(c.Organization))
	case hasSpace(s.ID):
		p.add("system.id", "contains whitespace, which Altinn refuses (AUTH.VLD-00013); use e.g. %s_sap-local", orOrg(c.Organization))
	case c.Organization != "" && !ok:
		p.add("system.id", "must start with %q: the organisation is its own system vendor, and Altinn checks the part before the first '_' (AUTH.VLD-00001)", prefix)
	case ok && name == "":
		p.add("system.id", "has nothing after %q; add the system's name, e.g. %ssap-local", prefix, prefix)
	case ok && !systemNameRE.MatchString(name):
		p.add("system.id", "has a name part with characters other than letters, digits, '.', '_' and '-'; it goes into URL paths, so keep to those")
	}
	checkTexts(p, "system.name", s.Name)
	checkTexts(p, "system.description", s.Description)
	seen := map[Right]int{}
	for i, r := range s.Rights {
		path := fmt.Sprintf("system.rights[%d]", i)
		if strings.TrimSpace(r.Resource) == "" {
			p.add(path+".resource", "is required: the resource id from Altinn's resource registry (the value of urn:altinn:resource)")
			continue
		}
		if j, dup := seen[r]; dup {
			p.add(path, "repeats system.rights[%d]; Altinn refuses duplicate rights (AUTH.VLD-00006): remove one", j)
			continue
		}
		seen[r] = i
	}
	checkPackages(p, "system.access_packages", s.AccessPackages)
}

func orOrg(org string) string {
	if org == "" {
		return "<organization>"
	}
	return org
}

func checkTexts(p *problems, path string, t Texts) {
	for _, f := range []struct{ lang, text string }{{"nb", t.NB}, {"nn", t.NN}, {"en", t.EN}} {
		if strings.TrimSpace(f.text) == "" {
			p.add(path+"."+f.lang, "is required: Altinn shows the system in Norwegian Bokmål (nb), Nynorsk (nn) and English (en), and approval needs nb")
		}
	}
}

func checkPackages(p *problems, path string, pkgs []string) {
	seen := map[string]int{}
	for i, pkg := range pkgs {
		at := fmt.Sprintf("%s[%d]", path, i)
		if !packageRE.MatchString(pkg) {
			p.add(at, "is %s; an access package looks like urn:altinn:accesspackage:<name> with a lower-case name, e.g. urn:altinn:accesspackage:skattegrunnlag", quote(pkg))
			continue
		}
		if j, dup := seen[pkg]; dup {
			p.add(at, "repeats %s[%d]; remove one", path, j)
			continue
		}
		seen[pkg] = i
	}
}

func (c *Config) checkSystemUsers(p *problems) {
	names := map[string]int{}
	refs := map[string]int{}
	sysRights := map[Right]bool{}
	for _, r := range c.System.Rights {
		sysRights[r] = true
	}
	sysPackages := map[string]bool{}
	for _, pkg := range c.System.AccessPackages {
		sysPackages[pkg] = true
	}
	for i, su := range c.SystemUsers {
		path := fmt.Sprintf("system_users[%d]", i)
		switch {
		case !suNameRE.MatchString(su.Name):
			p.add(path+".name", "is %s; use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, e.g. default or payroll", quote(su.Name))
		default:
			if j, dup := names[su.Name]; dup {
				p.add(path+".name", "%q is also the name of system_users[%d]; names must be unique because clients refer to system users by name", su.Name, j)
			} else {
				names[su.Name] = i
			}
		}
		if su.ExternalRef != "" && !refRE.MatchString(su.ExternalRef) {
			p.add(path+".external_ref", "is %s; use only letters, digits, '.', '_' and '-' (it goes into Altinn URL paths), or leave it out for the organisation's default system user", quote(su.ExternalRef))
		} else {
			eff := su.ExternalRef
			if eff == "" {
				eff = c.Organization
			}
			if j, dup := refs[eff]; dup {
				p.add(path+".external_ref", "gives the same system user as system_users[%d] (Altinn treats a missing external_ref as the organisation number); give each system user its own external_ref", j)
			} else {
				refs[eff] = i
			}
		}
		if len(su.Scopes) == 0 {
			hint := ""
			if len(c.SystemUsers) == 1 && su.Name == DefaultSystemUserName {
				hint = " (when system_users is empty, one system user named \"default\" is assumed)"
			}
			p.add(path+".scopes", "needs at least one Maskinporten scope, e.g. [altinn:systembruker.demo]%s", hint)
		}
		for j, s := range su.Scopes {
			checkScope(p, fmt.Sprintf("%s.scopes[%d]", path, j), s)
		}
		for j, r := range su.Rights {
			if !sysRights[r] {
				p.add(fmt.Sprintf("%s.rights[%d]", path, j), "(resource %s) is not among system.rights; a system user can only get rights its system has: add it to system.rights or remove it here", quote(r.Resource))
			}
		}
		for j, pkg := range su.AccessPackages {
			if !sysPackages[pkg] {
				p.add(fmt.Sprintf("%s.access_packages[%d]", path, j), "(%s) is not among system.access_packages; add it there or remove it here", quote(pkg))
			}
		}
	}
}

func checkScope(p *problems, path, s string) {
	switch {
	case s == "":
		p.add(path, "is empty; remove it or write the scope, e.g. skatteetaten:mvameldinginnsending")
	case hasSpace(s):
		p.add(path, "contains whitespace; write one scope per list item, e.g. [a:one, b:two]")
	}
}

func (c *Config) systemUserNames() []string {
	names := make([]string, 0, len(c.SystemUsers))
	for _, su := range c.SystemUsers {
		names = append(names, su.Name)
	}
	return names
}
