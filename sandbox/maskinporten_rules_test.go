package sandbox

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ruleCase sends one request that breaks exactly one rule of maskinporten.md §2/§7.
type ruleCase struct {
	name   string
	send   func(e *mpEnv) *tokenResp
	status int
	err    string // OAuth error
	code   string // MP code, "" = none
	text   string // part of the description
}

// withGrant sends the default grant after mods.
func withGrant(mods ...func(*grantSpec)) func(*mpEnv) *tokenResp {
	return func(e *mpEnv) *tokenResp { return e.post(e.grant(mods...)) }
}

func claim(name string, v any) func(*grantSpec) { return func(g *grantSpec) { g.claims[name] = v } }
func drop(name string) func(*grantSpec)         { return func(g *grantSpec) { delete(g.claims, name) } }
func rarField(name string, v any) func(*grantSpec) {
	return func(g *grantSpec) { g.rar()[name] = v }
}

// rawGrant hand-builds a grant from header and payload JSON, signed RS256 with the test key (crypto/rsa
// directly, as go-jose always writes its own header) unless sig is given.
func rawGrant(e *mpEnv, header, payload string, sig *string) string {
	in := b64(header) + "." + b64(payload)
	if sig != nil {
		return in + "." + *sig
	}
	sum := sha256.Sum256([]byte(in))
	s, err := rsa.SignPKCS1v15(rand.Reader, e.key, crypto.SHA256, sum[:])
	must(e.t, err)
	return in + "." + base64.RawURLEncoding.EncodeToString(s)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func TestTokenRules(t *testing.T) {
	otherKey := testKeys()[1]
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	const bad = http.StatusBadRequest
	cases := []ruleCase{
		// Transport (§3, §7.4).
		{name: "GET", status: http.StatusMethodNotAllowed, err: "invalid_request", send: func(e *mpEnv) *tokenResp {
			req, _ := http.NewRequest(http.MethodGet, e.s.MaskinportenTokenURL(), nil)
			return e.do(req)
		}},
		{name: "JSON body", status: bad, err: "invalid_request", send: func(e *mpEnv) *tokenResp {
			req, _ := http.NewRequest(http.MethodPost, e.s.MaskinportenTokenURL(), strings.NewReader(`{"grant_type":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			return e.do(req)
		}},
		{name: "client_secret_basic on top", status: bad, err: "invalid_request", text: "no other client authentication", send: func(e *mpEnv) *tokenResp {
			form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant()}}
			req, _ := http.NewRequest(http.MethodPost, e.s.MaskinportenTokenURL(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(testClientID, "secret")
			return e.do(req)
		}},
		{name: "client_secret in form", status: bad, err: "invalid_request", text: "no other client authentication", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant()}, "client_secret": {"s"}})
		}},
		{name: "client_assertion in form", status: bad, err: "invalid_request", text: "no other client authentication", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant()}, "client_assertion": {e.grant()}})
		}},
		{name: "scope form parameter", status: bad, err: "invalid_request", text: "unexpected parameter", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant()}, "scope": {testScope}})
		}},
		{name: "parameters in the URL", status: bad, err: "invalid_request", send: func(e *mpEnv) *tokenResp {
			form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant()}}
			req, _ := http.NewRequest(http.MethodPost, e.s.MaskinportenTokenURL()+"?"+form.Encode(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return e.do(req)
		}},
		{name: "assertion repeated", status: bad, err: "invalid_request", text: "repeated", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {e.grant(), e.grant()}})
		}},
		{name: "body over 64 KiB", status: bad, err: "invalid_request", text: "larger than", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {strings.Repeat("a", 70<<10)}})
		}},
		{name: "grant_type client_credentials", status: bad, err: "unsupported_grant_type", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {"client_credentials"}, "assertion": {e.grant()}})
		}},
		{name: "grant_type missing", status: bad, err: "invalid_request", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"assertion": {e.grant()}})
		}},
		{name: "assertion missing", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			return e.postForm(url.Values{"grant_type": {jwtBearerGrant}})
		}},

		// Unreadable grants (MP-011).
		{name: "two segments", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			g := e.grant()
			return e.post(g[:strings.LastIndex(g, ".")])
		}},
		{name: "stray line break", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			g := e.grant()
			return e.post(g[:40] + "\n" + g[40:])
		}},
		{name: "base64 padding", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			return e.post(e.grant() + "==")
		}},
		{name: "header not JSON", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			g := e.grant()
			return e.post(b64("{kid:1") + g[strings.Index(g, "."):])
		}},
		{name: "claims not an object", status: bad, err: "invalid_request", code: "MP-011", send: func(e *mpEnv) *tokenResp {
			return e.post(rawGrant(e, `{"alg":"RS256","kid":"key-1"}`, `["iss"]`, nil))
		}},
		{name: "duplicate claim", status: bad, err: "invalid_request", code: "MP-011", text: "twice", send: func(e *mpEnv) *tokenResp {
			return e.post(rawGrant(e, `{"alg":"RS256","kid":"key-1"}`, `{"iss":"`+testClientID+`","iss":"other"}`, nil))
		}},

		// Header (§2.1, §7.5).
		{name: "alg none", status: bad, err: "invalid_request", code: "MP-011", text: "alg", send: func(e *mpEnv) *tokenResp {
			empty := ""
			return e.post(rawGrant(e, `{"alg":"none","kid":"key-1"}`, string(mustJSON(e.t, e.spec().claims)), &empty))
		}},
		{name: "alg HS256", status: bad, err: "invalid_request", code: "MP-011", text: "alg", send: withGrant(func(g *grantSpec) {
			g.alg, g.key = jose.HS256, []byte("0123456789abcdef0123456789abcdef")
		})},
		{name: "alg PS256", status: bad, err: "invalid_request", code: "MP-011", text: "alg", send: withGrant(func(g *grantSpec) { g.alg = jose.PS256 })},
		{name: "alg ES256", status: bad, err: "invalid_request", code: "MP-011", text: "alg", send: withGrant(func(g *grantSpec) {
			g.alg, g.key = jose.ES256, ecKey
		})},
		{name: "kid and x5c", status: bad, err: "invalid_request", code: "MP-011", text: "exactly one of kid and x5c", send: withGrant(func(g *grantSpec) {
			g.header["x5c"] = []string{"MIIB"}
		})},
		{name: "neither kid nor x5c", status: bad, err: "invalid_request", code: "MP-011", text: "exactly one of kid and x5c", send: withGrant(func(g *grantSpec) {
			delete(g.header, "kid")
		})},
		{name: "x5c instead of kid on a client with keys", status: bad, err: "invalid_grant", code: "MP-123", text: "send kid", send: withGrant(func(g *grantSpec) {
			delete(g.header, "kid")
			g.header["x5c"] = []string{"MIIB"}
		})},
		{name: "embedded jwk header", status: bad, err: "invalid_request", code: "MP-011", text: `"jwk"`, send: withGrant(func(g *grantSpec) {
			g.header["jwk"] = map[string]string{"kty": "RSA"}
		})},
		{name: "typ at+jwt", status: bad, err: "invalid_request", code: "MP-011", text: "typ", send: withGrant(func(g *grantSpec) { g.header["typ"] = "at+jwt" })},

		// Claims not sent (§2.2, §7.6).
		{name: "sub", status: bad, err: "invalid_request", code: "MP-011", text: "Invalid assertion", send: withGrant(claim("sub", testClientID))},
		{name: "nbf", status: bad, err: "invalid_request", code: "MP-011", text: "Invalid assertion", send: withGrant(func(g *grantSpec) { g.claims["nbf"] = g.claims["iat"] })},
		{name: "pid", status: bad, err: "invalid_request", code: "MP-011", text: "Invalid assertion", send: withGrant(claim("pid", "01010112345"))},
		{name: "iss_onbehalfof", status: bad, err: "invalid_request", code: "MP-011", text: "Invalid assertion", send: withGrant(claim("iss_onbehalfof", "x"))},
		{name: "undocumented claim", status: bad, err: "invalid_request", code: "MP-011", text: "Invalid assertion", send: withGrant(claim("client_id", testClientID))},
		{name: "consumer_org own org", status: bad, err: "invalid_request", code: "MP-011", text: "combination consumer_org", send: withGrant(claim("consumer_org", testOrg))},
		{name: "consumer_org other org", status: bad, err: "invalid_request", code: "MP-011", text: "consumer_org", send: withGrant(claim("consumer_org", "310000002"))},
		{name: "iss missing", status: bad, err: "invalid_request", code: "MP-011", text: "iss", send: withGrant(drop("iss"))},
		{name: "iat missing", status: bad, err: "invalid_request", code: "MP-011", text: "iat", send: withGrant(drop("iat"))},
		{name: "exp a string", status: bad, err: "invalid_request", code: "MP-011", text: "exp", send: withGrant(claim("exp", "soon"))},
		{name: "jti missing", status: bad, err: "invalid_request", code: "MP-011", text: "jti", send: withGrant(drop("jti"))},

		// iss, aud, key and signature.
		{name: "unknown client", status: bad, err: "invalid_grant", code: "MP-100", send: withGrant(claim("iss", "no-such-client"))},
		{name: "aud is the token URL", status: bad, err: "invalid_grant", code: "MP-110", send: func(e *mpEnv) *tokenResp {
			return e.post(e.grant(claim("aud", e.s.MaskinportenTokenURL())))
		}},
		{name: "aud without slash", status: bad, err: "invalid_grant", code: "MP-110", send: func(e *mpEnv) *tokenResp {
			return e.post(e.grant(claim("aud", strings.TrimSuffix(e.s.MaskinportenIssuer(), "/"))))
		}},
		{name: "aud an array", status: bad, err: "invalid_grant", code: "MP-110", send: func(e *mpEnv) *tokenResp {
			return e.post(e.grant(claim("aud", []string{e.s.MaskinportenIssuer()})))
		}},
		{name: "aud of the other environment", status: bad, err: "invalid_grant", code: "MP-110", send: withGrant(claim("aud", "https://maskinporten.no/"))},
		{name: "aud missing", status: bad, err: "invalid_grant", code: "MP-110", send: withGrant(drop("aud"))},
		{name: "unknown kid", status: bad, err: "invalid_grant", code: "MP-124", text: "Unknown kid", send: withGrant(func(g *grantSpec) { g.header["kid"] = "key-9" })},
		{name: "signed by another key", status: bad, err: "invalid_grant", code: "MP-124", text: "Signature", send: withGrant(func(g *grantSpec) { g.key = otherKey })},
		{name: "payload swapped after signing", status: bad, err: "invalid_grant", code: "MP-124", text: "Signature", send: func(e *mpEnv) *tokenResp {
			p := strings.Split(e.grant(), ".")
			p[1] = strings.Split(e.grant(claim("scope", testScope2)), ".")[1]
			return e.post(strings.Join(p, "."))
		}},
		{name: "expired key", status: bad, err: "invalid_grant", code: "MP-121", text: "Expired key", send: func(e *mpEnv) *tokenResp {
			must(e.t, e.s.AddClientKey(testClientID, ClientKey{KID: "old", Public: &otherKey.PublicKey, Expires: e.clock.Now().Add(-time.Second)}))
			return e.post(e.grant(func(g *grantSpec) { g.header["kid"], g.key = "old", otherKey }))
		}},

		// Times (§2.2).
		{name: "iat 11 s ahead", status: bad, err: "invalid_grant", code: "MP-130", text: "Issue time is after now", send: func(e *mpEnv) *tokenResp {
			now := e.clock.Now().Unix()
			return e.post(e.grant(claim("iat", now+11), claim("exp", now+71)))
		}},
		{name: "iat 11 s old", status: bad, err: "invalid_grant", code: "MP-130", text: "before now", send: func(e *mpEnv) *tokenResp {
			now := e.clock.Now().Unix()
			return e.post(e.grant(claim("iat", now-11), claim("exp", now+49)))
		}},
		{name: "exp − iat 121 s", status: bad, err: "invalid_grant", code: "MP-130", text: "lifetime", send: func(e *mpEnv) *tokenResp {
			now := e.clock.Now().Unix()
			return e.post(e.grant(claim("exp", now+121)))
		}},
		{name: "exp in the past", status: bad, err: "invalid_grant", code: "MP-130", text: "JWT is expired", send: func(e *mpEnv) *tokenResp {
			now := e.clock.Now().Unix()
			return e.post(e.grant(claim("iat", now-5), claim("exp", now-1)))
		}},
		{name: "exp before iat", status: bad, err: "invalid_grant", code: "MP-130", text: "not after iat", send: func(e *mpEnv) *tokenResp {
			now := e.clock.Now().Unix()
			return e.post(e.grant(claim("iat", now+8), claim("exp", now+4)))
		}},
		{name: "jti used before", status: bad, err: "invalid_grant", code: "MP-012", text: "Grant is used before", send: func(e *mpEnv) *tokenResp {
			g := e.grant()
			e.mustToken(g)
			return e.post(g)
		}},

		// Scope (§7.8), resource (§7.11).
		{name: "scope missing", status: bad, err: "invalid_scope", code: "MP-200", send: withGrant(drop("scope"))},
		{name: "scope empty", status: bad, err: "invalid_scope", code: "MP-200", send: withGrant(claim("scope", " "))},
		{name: "scope not on client", status: bad, err: "invalid_scope", code: "MP-200", text: "altinn:z", send: withGrant(claim("scope", testScope+" altinn:z"))},
		{name: "scope not granted to org", status: bad, err: "invalid_scope", code: "MP-250", send: func(e *mpEnv) *tokenResp {
			e.s.RevokeScopeAccess(testOrg, testScope)
			return e.post(e.grant())
		}},
		{name: "resource two-element array", status: bad, err: "invalid_request", code: "MP-011", text: "resource", send: withGrant(claim("resource", []string{"https://a.no", "https://b.no"}))},
		{name: "resource not a URI", status: bad, err: "invalid_request", code: "MP-011", text: "resource", send: withGrant(claim("resource", "api.example.no"))},
	}
	cases = append(cases, rarRuleCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newMPEnv(t)
			r := tc.send(e)
			if r.status != tc.status || r.Error != tc.err {
				t.Errorf("status %d error %q; want %d %q (%s)", r.status, r.Error, tc.status, tc.err, r.ErrorDescription)
			}
			if code := r.code(t); code != tc.code {
				t.Errorf("MP code %q; want %q (%s)", code, tc.code, r.ErrorDescription)
			}
			if !strings.Contains(r.ErrorDescription, tc.text) {
				t.Errorf("description %q does not say %q", r.ErrorDescription, tc.text)
			}
			if r.AccessToken != "" {
				t.Error("an error reply carries an access token")
			}
			st := e.s.Stats()
			if st.GrantsRejected != 1 || st.Errors[errKey(tc)] != 1 {
				t.Errorf("stats rejected %d errors %v; want one %s", st.GrantsRejected, st.Errors, errKey(tc))
			}
		})
	}
}

func errKey(tc ruleCase) string {
	if tc.code != "" {
		return tc.code
	}
	return tc.err
}
