package config

import "slices"

// CheckServing runs config's own checks of the fields the local token endpoint serves from
// (organization, listen, system_users, clients) on a configuration that may have been built rather than
// loaded: the demo's, a test's, a reload's. It is what the agent relies on instead of checks of its own.
// listen may name port 0 (any free port). It changes nothing in c: a missing token_kind counts as
// maskinporten, as Validate's defaults make it.
func (c *Config) CheckServing() error {
	cp := *c
	cp.Clients = slices.Clone(c.Clients)
	for i := range cp.Clients {
		if cp.Clients[i].TokenKind == "" {
			cp.Clients[i].TokenKind = TokenKindMaskinporten
		}
	}
	var p problems
	if err := CheckOrgNumber(cp.Organization); err != nil {
		p.add("organization", "%v", err)
	}
	if _, err := LoopbackAddr(cp.Listen); err != nil {
		p.add("listen", "%v", err)
	}
	cp.checkSystemUsers(&p)
	cp.checkClients(&p)
	if len(p.errs) == 0 {
		return nil
	}
	return p.errs
}
