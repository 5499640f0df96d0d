package sandbox

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestTokenIssued sends valid grants and checks the reply and the exact claim set of the token, verified
// with go-jose against /jwk.
func TestTokenIssued(t *testing.T) {
	const ref = "sap-prod"
	const refUser = "99999999-2222-4333-8444-555555555555"
	base := []string{"client_amr", "client_id", "consumer", "exp", "iat", "iss", "jti", "scope", "token_type"}
	withRAR := append([]string{"authorization_details"}, base...)
	cases := []struct {
		name      string
		mod       func(*grantSpec)
		claims    []string // exact claim names of the token
		scope     string
		userID    string // "" = no authorization_details
		ref       string
		aud       string
		expiresIn int64
	}{
		{name: "system user RS256", mod: func(*grantSpec) {}, claims: withRAR, scope: testScope, userID: testUserID},
		{name: "RS384", mod: func(g *grantSpec) { g.alg = jose.RS384 }, claims: withRAR, scope: testScope, userID: testUserID},
		{name: "RS512", mod: func(g *grantSpec) { g.alg = jose.RS512 }, claims: withRAR, scope: testScope, userID: testUserID},
		{name: "typ JWT", mod: func(g *grantSpec) { g.header["typ"] = "JWT" }, claims: withRAR, scope: testScope, userID: testUserID},
		{name: "externalRef echoed", mod: func(g *grantSpec) { g.rar()["externalRef"] = ref },
			claims: withRAR, scope: testScope, userID: refUser, ref: ref},
		{name: "plain token", mod: func(g *grantSpec) { delete(g.claims, "authorization_details") }, claims: base, scope: testScope},
		{name: "two scopes, one repeated", mod: func(g *grantSpec) { g.claims["scope"] = "altinn:x altinn:y altinn:x" },
			claims: withRAR, scope: "altinn:x altinn:y", userID: testUserID},
		{name: "resource string", mod: func(g *grantSpec) { g.claims["resource"] = "https://api.example.no" },
			claims: append([]string{"aud"}, withRAR...), scope: testScope, userID: testUserID, aud: "https://api.example.no"},
		{name: "resource one-element array", mod: func(g *grantSpec) { g.claims["resource"] = []string{"https://api.example.no"} },
			claims: append([]string{"aud"}, withRAR...), scope: testScope, userID: testUserID, aud: "https://api.example.no"},
		{name: "iat 10 s ahead", mod: func(g *grantSpec) {
			g.claims["iat"] = g.claims["iat"].(int64) + 10
			g.claims["exp"] = g.claims["iat"].(int64) + 120
		}, claims: withRAR, scope: testScope, userID: testUserID},
		{name: "fractional dates", mod: func(g *grantSpec) {
			g.claims["iat"] = float64(g.claims["iat"].(int64)) + 0.5
			g.claims["exp"] = g.claims["iat"].(float64) + 60
		}, claims: withRAR, scope: testScope, userID: testUserID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newMPEnv(t)
			seedAltinn(t, e.s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
				systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg},
				systemUser{ID: refUser, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: ref})
			r := e.mustToken(e.grant(tc.mod))
			if r.TokenType != "Bearer" || r.ExpiresIn != 120 || r.Scope != tc.scope {
				t.Errorf("reply token_type %q expires_in %d scope %q; want Bearer 120 %q", r.TokenType, r.ExpiresIn, r.Scope, tc.scope)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", cc)
			}
			hdr, claims := e.verifyWithJWKS(r.AccessToken)
			if got := sortedKeys(hdr); !slices.Equal(got, []string{"alg", "kid"}) || hdr["alg"] != "RS256" {
				t.Errorf("token header %v; want exactly {kid, alg: RS256}", hdr)
			}
			want := slices.Sorted(slices.Values(tc.claims))
			if got := sortedKeys(claims); !slices.Equal(got, want) {
				t.Fatalf("claims %v; want exactly %v", got, want)
			}
			checkClaims(t, e, claims, tc.scope, tc.aud)
			if tc.userID != "" {
				checkRARClaim(t, claims["authorization_details"], tc.userID, tc.ref)
			}
			if _, err := e.s.VerifyAccessToken(r.AccessToken); err != nil {
				t.Errorf("VerifyAccessToken: %v", err)
			}
		})
	}
}

var jti43Re = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func checkClaims(t *testing.T, e *mpEnv, c map[string]any, scope, aud string) {
	t.Helper()
	now := float64(e.clock.Now().Unix())
	want := map[string]any{
		"iss": e.s.MaskinportenIssuer(), "client_amr": "private_key_jwt", "token_type": "Bearer",
		"client_id": testClientID, "scope": scope, "iat": now, "exp": now + 120,
	}
	if aud != "" {
		want["aud"] = aud
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v; want %v", k, c[k], v)
		}
	}
	if jti, _ := c["jti"].(string); !jti43Re.MatchString(jti) {
		t.Errorf("jti %q is not 43 base64url characters", jti)
	}
	cons, _ := json.Marshal(c["consumer"])
	if string(cons) != `{"ID":"0192:`+testOrg+`","authority":"iso6523-actorid-upis"}` {
		t.Errorf("consumer %s", cons)
	}
}

func checkRARClaim(t *testing.T, v any, userID, ref string) {
	t.Helper()
	entries, ok := v.([]any)
	if !ok || len(entries) != 1 {
		t.Fatalf("authorization_details %v; want one entry", v)
	}
	e := entries[0].(map[string]any)
	want := []string{"system_id", "systemuser_id", "systemuser_org", "type"}
	if ref != "" {
		want = append([]string{"externalRef"}, want...)
	}
	if got := sortedKeys(e); !slices.Equal(got, want) {
		t.Errorf("authorization_details members %v; want %v", got, want)
	}
	org, _ := json.Marshal(e["systemuser_org"])
	ids, _ := json.Marshal(e["systemuser_id"])
	if e["type"] != systemUserType || string(org) != `{"ID":"0192:`+testOrg+`","authority":"iso6523-actorid-upis"}` ||
		string(ids) != `["`+userID+`"]` || e["system_id"] != testSystemID {
		t.Errorf("authorization_details entry %v", e)
	}
	if ref != "" && e["externalRef"] != ref {
		t.Errorf("externalRef %v; want %q", e["externalRef"], ref)
	}
}

// TestMetadata checks the well-known document against maskinporten.md §1.
func TestMetadata(t *testing.T) {
	e := newMPEnv(t)
	resp, err := e.srv.Client().Get(e.s.MaskinportenIssuer() + ".well-known/oauth-authorization-server")
	must(t, err)
	defer resp.Body.Close()
	var got map[string]any
	must(t, json.NewDecoder(resp.Body).Decode(&got))
	iss := e.srv.URL + "/maskinporten/"
	want := map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        iss + "token",
		"jwks_uri":                              iss + "jwk",
		"grant_types_supported":                 []any{"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"token_endpoint_auth_methods_supported": []any{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []any{"RS256", "RS384", "RS512"},
		"authorization_details_types_supported":            []any{"urn:altinn:systemuser", "urn:altinn:consent"},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("metadata\n got %s\nwant %s", gj, wj)
	}
	info := e.s.Info()
	if info["maskinporten_issuer"] != iss || info["maskinporten_token"] != iss+"token" || info["altinn"] != e.srv.URL+"/altinn" {
		t.Errorf("Info() = %v", info)
	}
}

// TestLifetime checks Options.TokenLifetime and the per-scope cap (lowest wins).
func TestLifetime(t *testing.T) {
	e := newMPEnv(t, func(o *Options) { o.TokenLifetime = 300 * time.Second })
	if r := e.mustToken(e.grant()); r.ExpiresIn != 300 {
		t.Errorf("expires_in %d; want 300", r.ExpiresIn)
	}
	e.s.SetScopeMaxAge(testScope2, 90*time.Second)
	e.s.SetScopeMaxAge(testScope, 200*time.Second)
	r := e.mustToken(e.grant(func(g *grantSpec) { g.claims["scope"] = testScope + " " + testScope2 }))
	_, c := e.verifyWithJWKS(r.AccessToken)
	if r.ExpiresIn != 90 || c["exp"].(float64)-c["iat"].(float64) != 90 {
		t.Errorf("expires_in %d, exp-iat %v; want 90", r.ExpiresIn, c["exp"].(float64)-c["iat"].(float64))
	}
	e.s.SetScopeMaxAge(testScope2, 0)
	if r := e.mustToken(e.grant(func(g *grantSpec) { g.claims["scope"] = testScope2 })); r.ExpiresIn != 300 {
		t.Errorf("after removing the cap expires_in %d; want 300", r.ExpiresIn)
	}
}

// TestSystemUserDeletedMidRun is §7.13: after the owner deletes the system user, new grants fail MP-303,
// and the token issued before stays valid until exp.
func TestSystemUserDeletedMidRun(t *testing.T) {
	e := newMPEnv(t)
	r := e.mustToken(e.grant())
	must(t, e.s.DeleteSystemUser(testUserID))
	r2 := e.post(e.grant())
	if r2.status != http.StatusBadRequest || r2.Error != "invalid_altinn_customer_configuration" || r2.code(t) != "MP-303" {
		t.Errorf("after deletion: %d %s %s", r2.status, r2.Error, r2.ErrorDescription)
	}
	if _, err := e.s.VerifyAccessToken(r.AccessToken); err != nil {
		t.Errorf("token issued before the deletion: %v", err)
	}
	e.clock.Advance(131 * time.Second) // past exp + 10 s skew
	if _, err := e.s.VerifyAccessToken(r.AccessToken); err == nil {
		t.Error("an expired token still verifies")
	}
}

// TestAltinnAdminSeam goes through the Altinn half's exported admin API instead of seedAltinn: a seeded
// system and system user give a token whose systemuser_id and system_id are theirs; another externalRef
// is a second system user; deleting the first breaks its grants only.
func TestAltinnAdminSeam(t *testing.T) {
	e := newMPEnv(t)
	const sysID = testOrg + "_seam"
	must(t, e.s.RegisterClient(Client{ID: "seam-client", Org: testOrg, Scopes: []string{testScope},
		Keys: []ClientKey{{KID: testKID, Public: &e.key.PublicKey}}}))
	must(t, e.s.SeedSystem(SystemSeed{ID: sysID, ClientIDs: []string{"seam-client"}}))
	def, err := e.s.SeedSystemUser(sysID, testOrg, "")
	must(t, err)
	sap, err := e.s.SeedSystemUser(sysID, testOrg, "sap")
	must(t, err)
	iss := claim("iss", "seam-client")
	for _, tc := range []struct {
		mods []func(*grantSpec)
		user string
	}{{[]func(*grantSpec){iss}, def}, {[]func(*grantSpec){iss, rarField("externalRef", "sap")}, sap}} {
		_, c := e.verifyWithJWKS(e.mustToken(e.grant(tc.mods...)).AccessToken)
		rar := c["authorization_details"].([]any)[0].(map[string]any)
		if ids := rar["systemuser_id"].([]any); len(ids) != 1 || ids[0] != tc.user || rar["system_id"] != sysID {
			t.Errorf("authorization_details %v; want user %s of %s", rar, tc.user, sysID)
		}
	}
	must(t, e.s.DeleteSystemUser(def))
	if r := e.post(e.grant(iss)); r.Error != "invalid_altinn_customer_configuration" || r.code(t) != "MP-303" {
		t.Errorf("deleted system user: %d %s", r.status, r.ErrorDescription)
	}
	e.mustToken(e.grant(iss, rarField("externalRef", "sap")))
}
