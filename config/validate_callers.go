package config

import (
	"fmt"
	"strings"
)

func (c *Config) checkClients(p *problems) {
	ids := map[string]int{}
	users := map[string]SystemUser{}
	for _, su := range c.SystemUsers {
		if _, dup := users[su.Name]; !dup {
			users[su.Name] = su
		}
	}
	for i, cl := range c.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		if !clientIDRE.MatchString(cl.ID) {
			p.add(path+".id", "is %s; use letters, digits, '.', '_' and '-', e.g. sap", quote(cl.ID))
		} else if j, dup := ids[cl.ID]; dup {
			p.add(path+".id", "%q is also the id of clients[%d]; each local caller needs its own id", cl.ID, j)
		} else {
			ids[cl.ID] = i
		}
		// The value is never echoed: a caller secret pasted here by mistake must not reach logs.
		if !sha256HexRE.MatchString(cl.SecretSHA256) && !(cl.SecretSHA256 == "" && cl.OSUser != "") {
			p.add(path+".secret_sha256", "must be the SHA-256 of the caller's secret as 64 lower-case hex characters; `agent clients add %s` creates the secret, writes it to the caller's file and puts its digest here (never put the secret itself in this file); a caller with os_user may leave it empty and call over the Unix socket or named pipe, where the OS names its account", orID(cl.ID))
		}
		allowed := map[string]bool{}
		if len(cl.SystemUsers) == 0 {
			p.add(path+".system_users", "needs at least one system user name (from system_users[].name); the first is the caller's default")
		}
		for j, name := range cl.SystemUsers {
			su, ok := users[name]
			if !ok {
				p.add(fmt.Sprintf("%s.system_users[%d]", path, j), "names %s, which is not in system_users; use one of: %s", quote(name), strings.Join(c.systemUserNames(), ", "))
				continue
			}
			for _, s := range su.Scopes {
				allowed[s] = true
			}
		}
		if len(cl.Scopes) == 0 {
			p.add(path+".scopes", "needs at least one scope: each caller gets only the scopes listed here (default deny)")
		}
		for j, s := range cl.Scopes {
			at := fmt.Sprintf("%s.scopes[%d]", path, j)
			checkScope(p, at, s)
			if s != "" && !hasSpace(s) && len(cl.SystemUsers) > 0 && !allowed[s] {
				p.add(at, "%s is not a scope of this client's system users; add it to their scopes in system_users or remove it here", quote(s))
			}
		}
		if cl.TokenKind != TokenKindMaskinporten && cl.TokenKind != TokenKindAltinn {
			p.add(path+".token_kind", "is %s; use maskinporten (the Maskinporten token) or altinn (exchanged for an Altinn token)", quote(cl.TokenKind))
		}
	}
}

func orID(id string) string {
	if id == "" {
		return "<id>"
	}
	return id
}
