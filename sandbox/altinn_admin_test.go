package sandbox

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The admin/driver API and the secrets rule.

// TestAltinnSeed: SeedSystem applies the POST checks (bar owner and languages); SeedSystemUser makes an
// accepted request and its user; the views show both.
func TestAltinnSeed(t *testing.T) {
	e := newAltEnv(t)
	seed := SystemSeed{ID: altSys, ClientIDs: []string{"c1"}, Rights: []string{ResourceExample}, AccessPackages: []string{PackageAssignable}}
	altMust(t, e.s.SeedSystem(seed))
	bad := []struct {
		name string
		seed SystemSeed
		code string
	}{
		{"id taken", seed, "AUTH.VLD-00002"},
		{"client taken", SystemSeed{ID: altOrg + "_b", ClientIDs: []string{"c1"}}, "AUTH.VLD-00004"},
		{"unknown resource", SystemSeed{ID: altOrg + "_c", Rights: []string{"nope"}}, "AUTH.VLD-00003"},
		{"vendor mismatch", SystemSeed{ID: altOrg + "_d", VendorOrg: altOther}, "AUTH.VLD-00001"},
		{"bad package", SystemSeed{ID: altOrg + "_e", AccessPackages: []string{PackageNotAssignable}}, "AUTH.VLD-00008"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if err := e.s.SeedSystem(c.seed); err == nil || !strings.Contains(err.Error(), c.code) {
				t.Fatalf("got %v, want %s", err, c.code)
			}
		})
	}
	id, err := e.s.SeedSystemUser(altSys, altOrg, "")
	altMust(t, err)
	if _, err := e.s.SeedSystemUser(altSys, altOrg, altOrg); err == nil {
		t.Fatal("a second system user with the same key was seeded")
	}
	var ae *AltinnError
	if _, err := e.s.SeedSystemUser(altOrg+"_nope", altOrg, ""); !errors.As(err, &ae) || ae.Code != "AUTH-00011" {
		t.Fatalf("seed on an unknown system: %v", err)
	}
	sys := e.s.Systems()
	if len(sys) != 1 || sys[0].VendorOrg != altOrg || sys[0].Name["nb"] != altSys || sys[0].IsVisible || sys[0].Deleted {
		t.Fatalf("systems: %+v", sys)
	}
	reqs, users := e.s.Requests(), e.s.SystemUsers()
	if len(reqs) != 1 || reqs[0].ID != id || reqs[0].Status != "Accepted" || reqs[0].ExternalRef != altOrg ||
		len(users) != 1 || users[0].ID != id || users[0].OwnerOrg != altOrg {
		t.Fatalf("requests %+v users %+v", reqs, users)
	}
	if !strings.HasSuffix(e.s.ConfirmURL(id), approvalPath+"?id="+id+"&DONTCHOOSEREPORTEE=true") {
		t.Fatalf("confirm URL %s", e.s.ConfirmURL(id))
	}
}

// TestAltinnRegister: partyOrgNo must be in the Register (AddOrganization, or the consumer of any
// accepted token), else AUTH-00000.
func TestAltinnRegister(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	body := altRequestBody("")
	body["partyOrgNo"] = altUnknown
	e.postRequest(body).code(t, 400, "AUTH-00000")
	e.s.AddOrganization(altUnknown, "Ny AS")
	if r := e.postRequest(body); r.Status != 201 {
		t.Fatalf("after AddOrganization: %d %s", r.Status, r.Body)
	}
}

// TestAltinnSecretsStayOut: tokens never appear in the sandbox's logs or in verification errors.
func TestAltinnSecretsStayOut(t *testing.T) {
	e := newAltEnv(t)
	mp := e.mp(altOrg)
	exchanged := string(e.call("GET", "exchange/maskinporten", mp, nil).Body)
	e.clock.Advance(31 * time.Minute) // both tokens expire
	tampered := exchanged[:len(exchanged)-6] + "AAAAAA"
	for _, tok := range []string{mp, exchanged, tampered} {
		e.call("GET", "systemregister/vendor", tok, nil).empty(t, 401)
		e.call("GET", "exchange/maskinporten", tok, nil).empty(t, 401)
		if _, err := e.s.VerifyAltinnToken(tok); err == nil {
			t.Fatal("an expired or tampered token verified")
		} else if altLeaks(err.Error(), tok) {
			t.Fatalf("error %q contains the token", err)
		}
	}
	logs := e.log.String()
	if !strings.Contains(logs, "unauthenticated") {
		t.Fatal("test premise: the refusals should be logged")
	}
	for _, tok := range []string{mp, exchanged, tampered} {
		if altLeaks(logs, tok) {
			t.Fatal("the log contains a token")
		}
	}
}

// altLeaks reports whether s contains the token or its signature.
func altLeaks(s, tok string) bool {
	parts := strings.Split(tok, ".")
	return strings.Contains(s, tok) || (len(parts) == 3 && strings.Contains(s, parts[2]))
}
