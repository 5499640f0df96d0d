package sandbox

import (
	"encoding/json"
	"regexp"
)

// systemUserGrant is an accepted urn:altinn:systemuser authorization_details entry with its lookup result.
type systemUserGrant struct {
	org         string // 9-digit owner org number from systemuser_org.ID
	externalRef string // as sent; "" when absent
	userID      string
	systemID    string
}

// rarEntryFields and rarOrgFields are the members the entry and its systemuser_org may carry
// (case-sensitive, maskinporten.md §2.4).
var (
	rarEntryFields = map[string]bool{"type": true, "systemuser_org": true, "externalRef": true}
	rarOrgFields   = map[string]bool{"authority": true, "ID": true}
	orgID0192Re    = regexp.MustCompile(`^0192:([0-9]{9})$`)
)

// checkRAR applies maskinporten.md §2.4 and §7.9–10 to authorization_details: exactly one entry of type
// urn:altinn:systemuser (MP-301), only known members (MP-302), authority iso6523-actorid-upis and ID
// "0192:"+9 digits, a non-empty externalRef when present (MP-303), then the Altinn lookup with this client
// as the vendor (invalid_altinn_customer_configuration MP-303). No claim means a plain token: nil, nil.
func (m *maskinporten) checkRAR(raw json.RawMessage, c client) (*systemUserGrant, *grantError) {
	if raw == nil {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries) != 1 {
		return nil, invalidRAR("MP-301", "authorization_details must be an array with exactly one entry")
	}
	entry, err := decodeObject(entries[0])
	if err != nil {
		return nil, invalidRAR("MP-301", "the authorization_details entry must be a JSON object")
	}
	var typ string
	if err := json.Unmarshal(entry["type"], &typ); err != nil || typ != systemUserType {
		return nil, invalidRAR("MP-301", "unsupported authorization_details type; use %q", systemUserType)
	}
	for name := range entry {
		if !rarEntryFields[name] {
			return nil, invalidRAR("MP-302", "unknown field %q in the %s entry (names are case-sensitive: externalRef, systemuser_org)", name, systemUserType)
		}
	}
	orgRaw, ok := entry["systemuser_org"]
	if !ok {
		return nil, invalidRAR("MP-303", "systemuser_org is required")
	}
	org, err := decodeObject(orgRaw)
	if err != nil {
		return nil, invalidRAR("MP-303", "systemuser_org must be an object {authority, ID}")
	}
	for name := range org {
		if !rarOrgFields[name] {
			return nil, invalidRAR("MP-302", "unknown field %q in systemuser_org (names are case-sensitive: authority, ID)", name)
		}
	}
	var authority, id string
	if err := json.Unmarshal(org["authority"], &authority); err != nil || authority != orgAuthority {
		return nil, invalidRAR("MP-303", "systemuser_org.authority must be %q", orgAuthority)
	}
	_ = json.Unmarshal(org["ID"], &id)
	match := orgID0192Re.FindStringSubmatch(id)
	if match == nil {
		return nil, invalidRAR("MP-303", `systemuser_org.ID must be "0192:" and a 9-digit organisation number`)
	}
	g := &systemUserGrant{org: match[1]}
	if ref, ok := entry["externalRef"]; ok {
		if err := json.Unmarshal(ref, &g.externalRef); err != nil || g.externalRef == "" {
			return nil, invalidRAR("MP-303", "externalRef must be a non-empty string; leave it out for the default")
		}
	}
	var found bool
	g.userID, g.systemID, found = m.s.altinn.matchSystemUser(c.id, c.org, g.org, g.externalRef)
	if !found {
		ref := g.externalRef
		if ref == "" {
			ref = g.org + " (default)"
		}
		return nil, newGrantError(400, "invalid_altinn_customer_configuration", "MP-303",
			"No system user found for systemuser_org 0192:"+g.org+", externalRef "+ref+", client "+c.id+
				" and vendor "+c.org+": is the system user request approved, the client id on the system and the externalRef the one on the request?")
	}
	return g, nil
}
