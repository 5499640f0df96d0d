package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestRotateSigningKey: after a rotation /jwk publishes two keys, the newest first, and the newest signs;
// tokens of the previous key still verify; a second rotation drops the oldest key.
func TestRotateSigningKey(t *testing.T) {
	e := newMPEnv(t)
	first := e.mustToken(e.grant()).AccessToken
	kids := func() []string {
		resp, err := e.srv.Client().Get(e.s.MaskinportenIssuer() + "jwk")
		must(t, err)
		defer resp.Body.Close()
		var set jose.JSONWebKeySet
		must(t, json.NewDecoder(resp.Body).Decode(&set))
		var out []string
		for _, k := range set.Keys {
			if k.Algorithm != "RS256" || k.Use != "sig" || k.Key.(*rsa.PublicKey).N.BitLen() < 2048 {
				t.Errorf("published key %s: alg %s use %s", k.KeyID, k.Algorithm, k.Use)
			}
			out = append(out, k.KeyID)
		}
		return out
	}
	kidOf := func(tok string) string {
		h, _ := e.verifyWithJWKS(tok)
		return h["kid"].(string)
	}
	k1 := kids()
	if len(k1) != 1 || kidOf(first) != k1[0] {
		t.Fatalf("before rotation: keys %v, token kid %s", k1, kidOf(first))
	}
	e.s.RotateSigningKey()
	k2 := kids()
	if len(k2) != 2 || k2[1] != k1[0] || k2[0] == k1[0] {
		t.Fatalf("after rotation keys %v; want [new %s]", k2, k1[0])
	}
	second := e.mustToken(e.grant()).AccessToken
	if kidOf(second) != k2[0] {
		t.Errorf("new token signed by %s; want the newest key %s", kidOf(second), k2[0])
	}
	if _, err := e.s.VerifyAccessToken(first); err != nil {
		t.Errorf("token of the previous key: %v", err)
	}
	e.s.RotateSigningKey()
	if k3 := kids(); len(k3) != 2 || k3[1] != k2[0] {
		t.Fatalf("after second rotation keys %v", k3)
	}
	if _, err := e.s.VerifyAccessToken(first); err == nil {
		t.Error("a token of a dropped key still verifies")
	}
}

func TestRotateBeforeFirstToken(t *testing.T) {
	s := New(Options{})
	s.RotateSigningKey()
	keys, err := s.mp.signingKeys()
	if err != nil || len(keys) != 2 {
		t.Fatalf("rotation on a fresh sandbox: %d keys, %v; want 2", len(keys), err)
	}
}

// TestRegisterClientRejects checks each RegisterClient validation.
func TestRegisterClientRejects(t *testing.T) {
	k := testKeys()[0]
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	key := func(kid string) ClientKey { return ClientKey{KID: kid, Public: &k.PublicKey} }
	cases := []struct {
		name string
		c    Client
		want string
	}{
		{"empty id", Client{Org: testOrg}, "client id"},
		{"org 8 digits", Client{ID: "c", Org: "31000000"}, "9-digit"},
		{"scope with space", Client{ID: "c", Org: testOrg, Scopes: []string{"a b"}}, "scope"},
		{"six keys", Client{ID: "c", Org: testOrg, Keys: []ClientKey{key("1"), key("2"), key("3"), key("4"), key("5"), key("6")}}, "at most 5"},
		{"1024-bit key", Client{ID: "c", Org: testOrg, Keys: []ClientKey{{KID: "k", Public: &small.PublicKey}}}, "at least 2048"},
		{"EC key", Client{ID: "c", Org: testOrg, Keys: []ClientKey{{KID: "k", Public: &ec.PublicKey}}}, "RSA"},
		{"kid with space", Client{ID: "c", Org: testOrg, Keys: []ClientKey{key("a b")}}, "kid"},
		{"kid twice", Client{ID: "c", Org: testOrg, Keys: []ClientKey{key("a"), key("a")}}, "twice"},
		{"already registered", Client{ID: testClientID, Org: testOrg}, "already registered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newMPEnv(t)
			err := e.s.RegisterClient(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("RegisterClient: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestClientKeys: the 5-key limit, renewal by re-adding, another key under a used kid, removal, and the
// default one-year expiry.
func TestClientKeys(t *testing.T) {
	e := newMPEnv(t)
	other := testKeys()[1]
	for _, kid := range []string{"k2", "k3", "k4", "k5"} {
		must(t, e.s.AddClientKey(testClientID, ClientKey{KID: kid, Public: &other.PublicKey}))
	}
	if err := e.s.AddClientKey(testClientID, ClientKey{KID: "k6", Public: &other.PublicKey}); err == nil {
		t.Error("a sixth key was accepted")
	}
	if err := e.s.AddClientKey(testClientID, ClientKey{KID: "k2", Public: &e.key.PublicKey}); err == nil {
		t.Error("a used kid was accepted with another key")
	}
	if err := e.s.AddClientKey("nobody", ClientKey{KID: "x", Public: &other.PublicKey}); !errors.Is(err, ErrClientNotFound) {
		t.Errorf("unknown client: %v", err)
	}
	withKid := func(kid string, key *rsa.PrivateKey) func(*grantSpec) {
		return func(g *grantSpec) { g.header["kid"], g.key = kid, key }
	}
	e.mustToken(e.grant(withKid("k3", other)))

	must(t, e.s.RemoveClientKey(testClientID, "k3"))
	if r := e.post(e.grant(withKid("k3", other))); r.code(t) != "MP-124" {
		t.Errorf("grant with a removed key: %d %s", r.status, r.ErrorDescription)
	}
	if err := e.s.RemoveClientKey(testClientID, "k3"); err == nil {
		t.Error("removing a missing kid succeeded")
	}
	if err := e.s.RemoveClientKey("nobody", "k3"); !errors.Is(err, ErrClientNotFound) {
		t.Errorf("remove on unknown client: %v", err)
	}

	// Registered at the start: valid for one year, then MP-121 until uploaded again.
	e.clock.Advance(364 * 24 * time.Hour)
	e.mustToken(e.grant())
	e.clock.Advance(24 * time.Hour)
	if r := e.post(e.grant()); r.code(t) != "MP-121" || r.Error != "invalid_grant" {
		t.Errorf("after one year: %d %s %s", r.status, r.Error, r.ErrorDescription)
	}
	must(t, e.s.AddClientKey(testClientID, ClientKey{KID: testKID, Public: &e.key.PublicKey}))
	e.mustToken(e.grant())
	if r := e.post(e.grant(withKid("k2", other))); r.code(t) != "MP-121" {
		t.Errorf("a key not renewed: %d %s", r.status, r.ErrorDescription)
	}
}

// TestScopeAccessRestored: GrantScopeAccess undoes RevokeScopeAccess; other orgs are unaffected.
func TestScopeAccessRestored(t *testing.T) {
	e := newMPEnv(t)
	e.s.RevokeScopeAccess("310000002", testScope)
	e.mustToken(e.grant())
	e.s.RevokeScopeAccess(testOrg, testScope)
	if r := e.post(e.grant()); r.status != http.StatusBadRequest || r.code(t) != "MP-250" {
		t.Errorf("revoked: %d %s", r.status, r.ErrorDescription)
	}
	e.mustToken(e.grant(claim("scope", testScope2)))
	e.s.GrantScopeAccess(testOrg, testScope)
	e.mustToken(e.grant())
}

func TestClientOrg(t *testing.T) {
	e := newMPEnv(t)
	if org, ok := e.s.mp.clientOrg(testClientID); !ok || org != testOrg {
		t.Errorf("clientOrg = %q, %v", org, ok)
	}
	if _, ok := e.s.mp.clientOrg("nobody"); ok {
		t.Error("clientOrg found an unknown client")
	}
}
