package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fuzzSandbox is a sandbox with the default client and system user, served by calling its handler.
func fuzzSandbox(f *testing.F) (*Sandbox, http.Handler) {
	clock := newTestClock()
	s := New(Options{Now: clock.Now})
	s.SetBaseURL("http://sandbox.test")
	must(f, s.RegisterClient(Client{ID: testClientID, Org: testOrg, Scopes: []string{testScope, testScope2},
		Keys: []ClientKey{{KID: testKID, Public: &testKeys()[0].PublicKey}}}))
	seedAltinn(f, s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
		systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg})
	return s, s.Handler()
}

func fuzzPost(h http.Handler, assertion string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	req := httptest.NewRequest(http.MethodPost, "/maskinporten/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkRejected fails unless rec is a well-formed OAuth error reply that does not echo the assertion.
func checkRejected(t *testing.T, rec *httptest.ResponseRecorder, assertion string) {
	t.Helper()
	var body struct {
		Error, ErrorDescription, AccessToken string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("reply %d is not an OAuth error: %q", rec.Code, rec.Body)
	}
	if rec.Code < 400 || rec.Code > 499 {
		t.Fatalf("status %d for a bad grant; want 4xx", rec.Code)
	}
	if len(assertion) >= 40 && strings.Contains(rec.Body.String(), assertion) {
		t.Fatal("the error reply echoes the assertion")
	}
}

// FuzzTokenEndpoint feeds arbitrary assertions to /token. No input may panic the parser, and none may be
// accepted: the registered key's private half never signs a fuzz input (the checked-in seeds under
// testdata/fuzz were signed by a throwaway key).
func FuzzTokenEndpoint(f *testing.F) {
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	_, h := fuzzSandbox(f)
	f.Fuzz(func(t *testing.T, assertion string) {
		rec := fuzzPost(h, assertion)
		if rec.Code == http.StatusOK {
			t.Fatalf("junk accepted: %q", assertion)
		}
		checkRejected(t, rec, assertion)
	})
}

// FuzzGrantClaims fuzzes the claims of a correctly signed grant, so the checks after the signature (times,
// jti, scope, resource, authorization_details) see arbitrary JSON. Nothing may panic; a grant is accepted
// only if it is a plain or system-user grant of the registered client within the rules.
func FuzzGrantClaims(f *testing.F) {
	f.Add([]byte(`{"iss":"` + testClientID + `","aud":"http://sandbox.test/maskinporten/","scope":"altinn:x","iat":1768471200,"exp":1768471260,"jti":"j1"}`))
	s, h := fuzzSandbox(f)
	key := testKeys()[0]
	f.Fuzz(func(t *testing.T, payload []byte) {
		in := b64(`{"alg":"RS256","kid":"`+testKID+`"}`) + "." + base64.RawURLEncoding.EncodeToString(payload)
		sum := sha256.Sum256([]byte(in))
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		must(t, err)
		assertion := in + "." + base64.RawURLEncoding.EncodeToString(sig)
		rec := fuzzPost(h, assertion)
		if rec.Code != http.StatusOK {
			checkRejected(t, rec, assertion)
			return
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted claims that are not JSON: %q", payload)
		}
		for name := range c {
			if !grantClaimNames[name] {
				t.Fatalf("accepted an undocumented claim %q", name)
			}
		}
		scope, _ := c["scope"].(string)
		if c["iss"] != testClientID || c["aud"] != s.MaskinportenIssuer() || strings.TrimSpace(scope) == "" {
			t.Fatalf("accepted a grant with wrong iss, aud or scope: %q", payload)
		}
		var reply tokenReply
		must(t, json.Unmarshal(rec.Body.Bytes(), &reply))
		if _, err := s.VerifyAccessToken(reply.AccessToken); err != nil {
			t.Fatalf("issued token does not verify: %v", err)
		}
	})
}
