package sandbox

import "net/http"

// rarRuleCases break one authorization_details rule each (maskinporten.md §2.4, §7.9, §7.10).
func rarRuleCases() []ruleCase {
	const bad = http.StatusBadRequest
	const rarErr = "invalid_authorization_details"
	const noUser = "invalid_altinn_customer_configuration"
	entry := func() map[string]any {
		return map[string]any{"type": systemUserType,
			"systemuser_org": map[string]any{"authority": orgAuthority, "ID": "0192:" + testOrg}}
	}
	org := func(v any) func(*grantSpec) { return rarField("systemuser_org", v) }
	return []ruleCase{
		{name: "authorization_details an object", status: bad, err: rarErr, code: "MP-301", send: withGrant(claim("authorization_details", entry()))},
		{name: "authorization_details empty", status: bad, err: rarErr, code: "MP-301", send: withGrant(claim("authorization_details", []any{}))},
		{name: "two entries", status: bad, err: rarErr, code: "MP-301", send: withGrant(claim("authorization_details", []any{entry(), entry()}))},
		{name: "entry not an object", status: bad, err: rarErr, code: "MP-301", send: withGrant(claim("authorization_details", []any{"urn:altinn:systemuser"}))},
		{name: "type consent", status: bad, err: rarErr, code: "MP-301", send: withGrant(rarField("type", "urn:altinn:consent"))},
		{name: "type missing", status: bad, err: rarErr, code: "MP-301", send: withGrant(func(g *grantSpec) { delete(g.rar(), "type") })},
		{name: "external_ref", status: bad, err: rarErr, code: "MP-302", text: "external_ref", send: withGrant(rarField("external_ref", "x"))},
		{name: "externalref lower-case", status: bad, err: rarErr, code: "MP-302", send: withGrant(rarField("externalref", "x"))},
		{name: "systemuserorg (stale name)", status: bad, err: rarErr, code: "MP-302", send: withGrant(func(g *grantSpec) {
			g.rar()["systemuserorg"] = g.rar()["systemuser_org"]
			delete(g.rar(), "systemuser_org")
		})},
		{name: "id lower-case", status: bad, err: rarErr, code: "MP-302", text: `"id"`, send: withGrant(org(map[string]any{"authority": orgAuthority, "id": "0192:" + testOrg}))},
		{name: "systemuser_org missing", status: bad, err: rarErr, code: "MP-303", send: withGrant(func(g *grantSpec) { delete(g.rar(), "systemuser_org") })},
		{name: "systemuser_org a string", status: bad, err: rarErr, code: "MP-303", send: withGrant(org("0192:" + testOrg))},
		{name: "authority wrong", status: bad, err: rarErr, code: "MP-303", text: "authority", send: withGrant(org(map[string]any{"authority": "iso6523", "ID": "0192:" + testOrg}))},
		{name: "ID without 0192", status: bad, err: rarErr, code: "MP-303", text: "ID", send: withGrant(org(map[string]any{"authority": orgAuthority, "ID": testOrg}))},
		{name: "ID 8 digits", status: bad, err: rarErr, code: "MP-303", text: "ID", send: withGrant(org(map[string]any{"authority": orgAuthority, "ID": "0192:31000000"}))},
		{name: "ID a number", status: bad, err: rarErr, code: "MP-303", text: "ID", send: withGrant(org(map[string]any{"authority": orgAuthority, "ID": 310000001}))},
		{name: "externalRef empty", status: bad, err: rarErr, code: "MP-303", text: "externalRef", send: withGrant(rarField("externalRef", ""))},
		{name: "externalRef a number", status: bad, err: rarErr, code: "MP-303", text: "externalRef", send: withGrant(rarField("externalRef", 7))},

		// The Altinn lookup (altinn-api.md §6): every field of the match, one at a time.
		{name: "no system user for the org", status: bad, err: noUser, code: "MP-303", send: withGrant(org(map[string]any{"authority": orgAuthority, "ID": "0192:310000002"}))},
		{name: "externalRef differs", status: bad, err: noUser, code: "MP-303", send: withGrant(rarField("externalRef", "other"))},
		{name: "externalRef differs in case", status: bad, err: noUser, code: "MP-303", send: func(e *mpEnv) *tokenResp {
			seedAltinn(e.t, e.s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
				systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: "SAP"})
			return e.post(e.grant(rarField("externalRef", "sap")))
		}},
		{name: "client not on the system", status: bad, err: noUser, code: "MP-303", send: func(e *mpEnv) *tokenResp {
			must(e.t, e.s.RegisterClient(Client{ID: "client-2", Org: testOrg, Scopes: []string{testScope},
				Keys: []ClientKey{{KID: testKID, Public: &e.key.PublicKey}}}))
			return e.post(e.grant(claim("iss", "client-2")))
		}},
		{name: "system of another vendor", status: bad, err: noUser, code: "MP-303", send: func(e *mpEnv) *tokenResp {
			seedAltinn(e.t, e.s, system{ID: testSystemID, VendorOrg: "310000009", ClientIDs: []string{testClientID}})
			return e.post(e.grant())
		}},
		{name: "system user deleted", status: bad, err: noUser, code: "MP-303", send: func(e *mpEnv) *tokenResp {
			seedAltinn(e.t, e.s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
				systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg, Deleted: true})
			return e.post(e.grant())
		}},
		{name: "system deleted", status: bad, err: noUser, code: "MP-303", send: func(e *mpEnv) *tokenResp {
			seedAltinn(e.t, e.s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}, Deleted: true})
			return e.post(e.grant())
		}},
	}
}
