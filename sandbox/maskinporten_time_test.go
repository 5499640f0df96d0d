package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJTIReplay: a jti is refused for 130 s after use, per client, then forgotten (§7.7).
func TestJTIReplay(t *testing.T) {
	e := newMPEnv(t)
	const jti = "6f1c8d3e-4b7a-4e1f-9d2c-0a1b2c3d4e5f"
	e.mustToken(e.grant(claim("jti", jti)))
	e.clock.Advance(100 * time.Second)
	// A fresh grant (new iat/exp) reusing the jti within 130 s is still refused.
	if r := e.post(e.grant(claim("jti", jti))); r.status != http.StatusBadRequest || r.Error != "invalid_grant" || r.code(t) != "MP-012" {
		t.Errorf("reuse after 100 s: %d %s %s", r.status, r.Error, r.ErrorDescription)
	}
	// Another client may use the same jti.
	must(t, e.s.RegisterClient(Client{ID: "client-2", Org: testOrg, Scopes: []string{testScope},
		Keys: []ClientKey{{KID: testKID, Public: &e.key.PublicKey}}}))
	e.mustToken(e.grant(claim("jti", jti), claim("iss", "client-2"), drop("authorization_details")))
	// 130 s after first use it is forgotten, and the memory is pruned.
	e.clock.Advance(31 * time.Second)
	e.mustToken(e.grant(claim("jti", jti)))
	e.s.mp.mu.Lock()
	n, q := len(e.s.mp.jtis), len(e.s.mp.jtiOrder)
	e.s.mp.mu.Unlock()
	if n != 2 || q != 2 { // client-2's use at +100 s and the new one; the first use is pruned
		t.Errorf("jti memory holds %d entries, queue %d; want 2, 2", n, q)
	}
}

// TestClockSkew shifts the sandbox clock against the client's (SetClockOffset, §7.14) and checks the
// ±10 s iat window and that the issued token follows the sandbox clock.
func TestClockSkew(t *testing.T) {
	cases := []struct {
		offset time.Duration
		text   string // "" = accepted
	}{
		{offset: 0},
		{offset: 10 * time.Second},
		{offset: -10 * time.Second},
		{offset: 11 * time.Second, text: "before now"},
		{offset: -11 * time.Second, text: "Issue time is after now"},
		{offset: -time.Hour, text: "Issue time is after now"},
	}
	for _, tc := range cases {
		t.Run(tc.offset.String(), func(t *testing.T) {
			e := newMPEnv(t)
			e.s.SetClockOffset(tc.offset)
			r := e.post(e.grant()) // built with the client's clock, e.clock
			if tc.text == "" {
				if r.status != http.StatusOK {
					t.Fatalf("offset %s: %d %s", tc.offset, r.status, r.ErrorDescription)
				}
				_, c := e.verifyWithJWKS(r.AccessToken)
				if want := e.clock.Now().Add(tc.offset).Unix(); int64(c["iat"].(float64)) != want {
					t.Errorf("token iat %v; want the sandbox clock %d", c["iat"], want)
				}
				return
			}
			if r.code(t) != "MP-130" || !strings.Contains(r.ErrorDescription, tc.text) {
				t.Errorf("offset %s: %d %s; want MP-130 %q", tc.offset, r.status, r.ErrorDescription, tc.text)
			}
			e.s.ClearFaults()
			e.mustToken(e.grant())
		})
	}
}

// TestVerifyToken checks what the Altinn half relies on: only this sandbox's current tokens, unexpired
// with 10 s skew, with this issuer; errors never quote the token.
func TestVerifyToken(t *testing.T) {
	e := newMPEnv(t)
	tok := e.mustToken(e.grant()).AccessToken
	other := newMPEnv(t)
	other.s.RotateSigningKey() // its own key, as a separate sandbox would have
	foreign := other.mustToken(other.grant()).AccessToken
	wrongIss, err := e.s.mp.signJWT(map[string]any{"iss": "https://test.maskinporten.no/", "exp": e.clock.Now().Unix() + 60, "iat": e.clock.Now().Unix()})
	must(t, err)
	noExp, err := e.s.mp.signJWT(map[string]any{"iss": e.s.MaskinportenIssuer(), "iat": e.clock.Now().Unix()})
	must(t, err)
	p := strings.Split(tok, ".")
	cases := []struct {
		name    string
		tok     string
		advance time.Duration
		ok      bool
	}{
		{name: "valid", tok: tok, ok: true},
		{name: "9 s after exp", tok: tok, advance: 129 * time.Second, ok: true},
		{name: "11 s after exp", tok: tok, advance: 131 * time.Second},
		{name: "another sandbox", tok: foreign},
		{name: "tampered claims", tok: p[0] + "." + strings.Split(foreign, ".")[1] + "." + p[2]},
		{name: "alg none", tok: b64(`{"kid":"x","alg":"none"}`) + "." + p[1] + "."},
		{name: "wrong issuer", tok: wrongIss},
		{name: "no exp", tok: noExp},
		{name: "garbage", tok: "not.a.token"},
		{name: "empty", tok: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(tc.advance)
			defer e.clock.Advance(-tc.advance)
			claims, err := e.s.mp.verifyToken(tc.tok)
			if tc.ok {
				if err != nil || claims["client_id"] != testClientID {
					t.Fatalf("verifyToken: %v, claims %v", err, claims)
				}
				return
			}
			if err == nil {
				t.Fatal("verifyToken accepted it")
			}
			if !errors.Is(err, errBadToken) {
				t.Errorf("error %v does not wrap errBadToken", err)
			}
			for _, seg := range strings.Split(tc.tok, ".") {
				if len(seg) > 8 && strings.Contains(err.Error(), seg) {
					t.Errorf("error %q quotes the token", err)
				}
			}
		})
	}
}
