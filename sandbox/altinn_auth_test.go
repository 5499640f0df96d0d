package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// §9 items 1–3: tokens, vendor from consumer, scopes.

// TestAltinnTokens: raw Maskinporten and exchanged Altinn tokens both work (keys by iss), with 10 s
// skew; everything else is 401 with an empty body.
func TestAltinnTokens(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	get := func(tok string) altResp { return e.call("GET", "systemregister/vendor/"+altSys, tok, nil) }

	mp := e.mp(altOrg)
	exchanged := e.call("GET", "exchange/maskinporten", mp, nil)
	if exchanged.Status != 200 {
		t.Fatalf("exchange: %d %s", exchanged.Status, exchanged.Body)
	}
	tampered := mp[:len(mp)-4] + "AAAA"
	if tampered == mp {
		tampered = mp[:len(mp)-4] + "BBBB"
	}
	wrongIss := e.altinnToken(map[string]any{"iss": "https://platform.tt02.altinn.no/authentication/api/v1/openid/"})
	mpIssSignedByAltinn := e.altinnToken(map[string]any{"iss": e.s.MaskinportenIssuer()})
	cases := []struct {
		name, tok string
		want      int
	}{
		{"maskinporten token", mp, 200},
		{"exchanged altinn token", string(exchanged.Body), 200},
		{"no token", "", 401},
		{"garbage", "not-a-jwt", 401},
		{"bad signature", tampered, 401},
		{"unknown issuer", wrongIss, 401},
		{"maskinporten iss, altinn key", mpIssSignedByAltinn, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := get(c.tok)
			if c.want == 200 {
				if r.Status != 200 {
					t.Fatalf("got %d %s", r.Status, r.Body)
				}
				return
			}
			r.empty(t, c.want)
		})
	}

	t.Run("skew", func(t *testing.T) {
		mp := e.mp(altOrg) // exp = now + 120 s
		alt := e.altinnToken(map[string]any{"exp": e.clock.Now().Add(120 * time.Second).Unix()})
		e.clock.Advance(125 * time.Second) // 5 s past exp: inside the skew
		if r := get(mp); r.Status != 200 {
			t.Fatalf("maskinporten token 5 s past exp: %d", r.Status)
		}
		if r := get(alt); r.Status != 200 {
			t.Fatalf("altinn token 5 s past exp: %d", r.Status)
		}
		e.clock.Advance(6 * time.Second) // 11 s past exp
		get(mp).empty(t, 401)
		get(alt).empty(t, 401)
	})
}

// TestAltinnVendorFromConsumer: the vendor comes only from consumer (exact authority, upper-case ID,
// 0192: prefix); unusable → 403 on the system register, 401 on request endpoints, AUTH-00023 on create.
func TestAltinnVendorFromConsumer(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	consumers := map[string]any{
		"lower-case id":   map[string]any{"authority": "iso6523-actorid-upis", "id": "0192:" + altOrg},
		"other authority": map[string]any{"authority": "ISO6523-ACTORID-UPIS", "ID": "0192:" + altOrg},
		"other prefix":    map[string]any{"authority": "iso6523-actorid-upis", "ID": "9908:" + altOrg},
		"not 9 digits":    map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:31000000"},
		"missing":         nil,
	}
	for name, consumer := range consumers {
		t.Run(name, func(t *testing.T) {
			tok := e.altinnToken(map[string]any{"consumer": consumer})
			if consumer == nil {
				tok = e.altinnToken(map[string]any{"consumer": nil})
			}
			e.call("GET", "systemregister/vendor/"+altSys, tok, nil).empty(t, 403)
			e.call("POST", "systemregister/vendor", tok, altSystemBody(altOrg+"_x", altOrg)).empty(t, 403)
			e.call("GET", "systemuser/request/vendor/bysystem/"+altSys, tok, nil).empty(t, 401)
			e.call("POST", "systemuser/request/vendor", tok, altRequestBody("")).code(t, 401, "AUTH-00023")
		})
	}
	t.Run("valid consumer works", func(t *testing.T) {
		tok := e.altinnToken(nil)
		if r := e.call("GET", "systemregister/vendor/"+altSys, tok, nil); r.Status != 200 {
			t.Fatalf("got %d", r.Status)
		}
	})
	t.Run("body vendor is only compared", func(t *testing.T) {
		// altOther's token, body naming altOrg as vendor: the owner check refuses (403), it does not
		// register a system for altOrg.
		r := e.call("POST", "systemregister/vendor", e.mp(altOther), altSystemBody(altOrg+"_spoof", altOrg))
		r.empty(t, 403)
		for _, s := range e.s.Systems() {
			if s.ID == altOrg+"_spoof" {
				t.Fatal("a system was registered for a vendor the token does not name")
			}
		}
	})
}

// TestAltinnScopes: each endpoint takes any one of its §1 scopes; otherwise 403 with an empty body.
func TestAltinnScopes(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	reqID := ""
	{
		var dto requestDTO
		e.postRequest(altRequestBody("")).json(t, 201, &dto)
		reqID = dto.ID
	}
	endpoints := []struct {
		name, method, path string
		body               any
		ok                 []string // scopes that pass
	}{
		{"system get", "GET", "systemregister/vendor/" + altSys, nil, []string{scopeRegisterWrite, scopeRegisterAdmin}},
		{"system list", "GET", "systemregister/vendor", nil, []string{scopeRegisterWrite, scopeRegisterAdmin}},
		{"system put", "PUT", "systemregister/vendor/" + altSys, altSystemBody(altSys, altOrg, altClientID(altOrg)), []string{scopeRegisterWrite, scopeRegisterAdmin}},
		{"request post", "POST", "systemuser/request/vendor", altRequestBody(""), []string{scopeRequestWrite}},
		{"request get", "GET", "systemuser/request/vendor/" + reqID, nil, []string{scopeRequestRead}},
		{"request bysystem", "GET", "systemuser/request/vendor/bysystem/" + altSys, nil, []string{scopeRequestRead}},
		{"request byexternalref", "GET", "systemuser/request/vendor/byexternalref/" + altSys + "/" + altOrg + "/" + altOrg, nil, []string{scopeRequestRead}},
		{"user byquery", "GET", "systemuser/vendor/byquery?system-id=" + altSys + "&orgno=" + altOrg, nil, []string{scopeRequestWrite}},
		{"user bysystem", "GET", "systemuser/vendor/bysystem/" + altSys, nil, []string{scopeRegisterWrite, scopeRegisterAdmin}},
		{"request delete", "DELETE", "systemuser/request/vendor/" + reqID, nil, []string{scopeRequestWrite}},
	}
	all := []string{scopeRegisterWrite, scopeRegisterAdmin, scopeRequestWrite, scopeRequestRead, "altinn:x"}
	for _, ep := range endpoints {
		for _, sc := range all {
			pass := strings.Contains(strings.Join(ep.ok, " "), sc)
			t.Run(ep.name+"/"+sc, func(t *testing.T) {
				tok := e.altinnToken(map[string]any{"scope": sc})
				r := e.call(ep.method, ep.path, tok, ep.body)
				if !pass {
					r.empty(t, http.StatusForbidden)
					return
				}
				if r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized {
					t.Fatalf("scope %s refused: %d %s", sc, r.Status, r.Body)
				}
			})
		}
	}
	t.Run("exchange needs no scope", func(t *testing.T) {
		if r := e.call("GET", "exchange/maskinporten", e.mp(altOrg, "altinn:x"), nil); r.Status != 200 {
			t.Fatalf("got %d", r.Status)
		}
	})
}
