package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// §9 item 17: the token exchange.

// TestAltinnExchange: a system-user Maskinporten token becomes a bare Altinn JWT (text/plain) with the
// claims copied except aud, client_amr and sid, Altinn's claims added, exp = now + ExchangeLifetime.
func TestAltinnExchange(t *testing.T) {
	e := newAltEnv(t, func(o *Options) { o.ExchangeLifetime = 7 * time.Minute })
	e.registerSystem()
	_, err := e.s.SeedSystemUser(altSys, altOrg, "payroll")
	altMust(t, err)
	rar := map[string]any{"type": "urn:altinn:systemuser", "externalRef": "payroll",
		"systemuser_org": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + altOrg}}
	mp, errBody := e.token(e.grantWith(altOrg, func(c map[string]any) {
		c["authorization_details"] = []any{rar}
		c["resource"] = "https://api.example.no/"
	}, "altinn:x"))
	if mp == "" {
		t.Fatalf("system-user token: %s", errBody)
	}
	in, err := e.s.VerifyAccessToken(mp)
	altMust(t, err)
	if in["aud"] == nil || in["client_amr"] == nil {
		t.Fatalf("test premise: the Maskinporten token should carry aud and client_amr: %v", in)
	}
	before := e.s.Stats().Exchanges

	r := e.call("GET", "exchange/maskinporten", mp, nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || strings.Count(string(r.Body), ".") != 2 {
		t.Fatalf("exchange: %d %q %.40s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	if got := e.s.Stats().Exchanges - before; got != 1 {
		t.Errorf("Stats.Exchanges grew by %d, want 1", got)
	}
	out, err := e.s.VerifyAltinnToken(string(r.Body))
	altMust(t, err)
	now := e.clock.Now().Unix()
	for _, k := range []string{"scope", "consumer", "client_id", "authorization_details", "token_type", "jti"} {
		if !altEqualJSON(out[k], in[k]) {
			t.Errorf("claim %s = %v, want copied %v", k, out[k], in[k])
		}
	}
	for _, k := range []string{"aud", "client_amr"} {
		if _, ok := out[k]; ok {
			t.Errorf("claim %s must be dropped", k)
		}
	}
	wantNum := map[string]int64{"iat": now, "exp": now + 7*60, "urn:altinn:authlevel": 3}
	for k, v := range wantNum {
		if n, ok := altinnNumber(out[k]); !ok || n != v {
			t.Errorf("claim %s = %v, want %d", k, out[k], v)
		}
	}
	if out["iss"] != e.s.AltinnIssuer() || out["urn:altinn:orgNumber"] != altOrg || out["urn:altinn:authenticatemethod"] != "maskinporten" {
		t.Errorf("altinn claims: %v", out)
	}
	if sid, _ := out["sid"].(string); !altUUIDRe.MatchString(`"` + sid + `"`) {
		t.Errorf("sid = %v, want a new UUID", out["sid"])
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(r.Body), ".")[0])
	var h map[string]any
	altMust(t, json.Unmarshal(hdr, &h))
	if h["alg"] != "RS256" || h["kid"] == nil {
		t.Errorf("header %v", h)
	}

	t.Run("lifetime", func(t *testing.T) {
		e.clock.Advance(7*time.Minute + 5*time.Second)
		if _, err := e.s.VerifyAltinnToken(string(r.Body)); err != nil {
			t.Fatalf("inside the skew: %v", err)
		}
		e.clock.Advance(10 * time.Second)
		if _, err := e.s.VerifyAltinnToken(string(r.Body)); err == nil {
			t.Fatal("expired exchanged token verified")
		}
	})
}

// TestAltinnExchangeRefusals: 401 empty for anything but a valid sandbox-Maskinporten token; 410 with
// the enterprise-user header; 400 string for another provider; JSON-quoted for Accept: application/json.
func TestAltinnExchangeRefusals(t *testing.T) {
	e := newAltEnv(t)
	mp := e.mp(altOrg, "altinn:x")
	exchanged := string(e.call("GET", "exchange/maskinporten", mp, nil).Body)
	expired := e.mp(altOrg, "altinn:x")
	e.clock.Advance(131 * time.Second)
	fresh := e.mp(altOrg, "altinn:x")
	cases := []struct{ name, tok string }{
		{"no token", ""},
		{"garbage", "a.b.c"},
		{"expired", expired},
		{"an altinn token", exchanged},
		{"bad consumer", e.altinnToken(map[string]any{"iss": e.s.MaskinportenIssuer()})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { e.call("GET", "exchange/maskinporten", c.tok, nil).empty(t, 401) })
	}
	t.Run("enterprise user", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.s.AltinnURL()+"/authentication/api/v1/exchange/maskinporten", nil)
		req.Header.Set("Authorization", "Bearer "+fresh)
		req.Header.Set("X-Altinn-EnterpriseUser-Authentication", "x")
		resp, err := http.DefaultClient.Do(req)
		altMust(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGone {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("other provider", func(t *testing.T) {
		if r := e.call("GET", "exchange/unknown", fresh, nil); r.Status != 400 || len(r.Body) == 0 {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("accept json", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.s.AltinnURL()+"/authentication/api/v1/exchange/maskinporten", nil)
		req.Header.Set("Authorization", "Bearer "+fresh)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		altMust(t, err)
		defer resp.Body.Close()
		var tok string
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || strings.Count(tok, ".") != 2 {
			t.Fatalf("JSON-quoted token: %v %q", err, tok)
		}
		if _, err := e.s.VerifyAltinnToken(tok); err != nil {
			t.Fatal(err)
		}
	})
}
