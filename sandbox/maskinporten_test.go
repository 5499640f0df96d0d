package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The test harness of the Maskinporten half: a settable clock, cached RSA keys, a sandbox on a real
// loopback server with one registered client and one approved system user, and a grant builder that
// signs with go-jose (an implementation independent of the sandbox's parser).

const (
	testClientID = "0b3c5e2a-client"
	testOrg      = "310000001"
	testScope    = "altinn:x"
	testScope2   = "altinn:y"
	testKID      = "key-1"
	testSystemID = testOrg + "_mysystem"
	testUserID   = "11111111-2222-4333-8444-555555555555"
)

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKeys are RSA-2048 keys shared by all tests (generating one costs up to a second under -race):
// [0] the default client key, [1] another key, [2] an enterprise-certificate key, [3] the sandbox's own
// signing key (UseSigningKey).
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 4)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// mpEnv is one sandbox with a registered client (testClientID, org testOrg, key testKID) and an approved
// system user (testUserID of system testSystemID, owner testOrg, no externalRef).
type mpEnv struct {
	t     testing.TB
	s     *Sandbox
	srv   *httptest.Server
	clock *testClock
	key   *rsa.PrivateKey
}

func newMPEnv(t testing.TB, opts ...func(*Options)) *mpEnv {
	t.Helper()
	clock := newTestClock()
	o := Options{Now: clock.Now}
	for _, f := range opts {
		f(&o)
	}
	s := New(o)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	srv.Client().Timeout = time.Minute // a bound against hangs, never reached by a passing test
	s.SetBaseURL(srv.URL)
	e := &mpEnv{t: t, s: s, srv: srv, clock: clock, key: testKeys()[0]}
	must(t, s.UseSigningKey(testKeys()[3]))
	must(t, s.RegisterClient(Client{ID: testClientID, Org: testOrg, Scopes: []string{testScope, testScope2},
		Keys: []ClientKey{{KID: testKID, Public: &e.key.PublicKey}}}))
	seedAltinn(t, s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
		systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg})
	return e
}

// seedAltinn puts a system and its system users straight into the Altinn half's state (replacing any with
// the same ids), using only the fields of the original stub, Deleted included. It is the one place these
// tests touch Altinn internals, so they can pin ids and build states the admin API refuses (a client id
// on two systems); TestAltinnAdminSeam goes through the exported SeedSystem/SeedSystemUser instead.
func seedAltinn(t testing.TB, s *Sandbox, sys system, users ...systemUser) {
	t.Helper()
	a := s.altinn
	a.mu.Lock()
	defer a.mu.Unlock()
	cp := sys
	a.systems[sys.ID] = &cp
	for _, u := range users {
		cu := u
		a.users[u.ID] = &cu
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// grantSpec is one grant to sign. claims and header start from valid defaults; tests change them.
type grantSpec struct {
	alg    jose.SignatureAlgorithm
	key    any                    // signing key
	header map[jose.HeaderKey]any // extra header parameters; "kid" is set by default
	claims map[string]any
}

// spec returns a valid system-user grant for the default client, issued now.
func (e *mpEnv) spec() *grantSpec {
	now := e.clock.Now().Unix()
	return &grantSpec{
		alg:    jose.RS256,
		key:    e.key,
		header: map[jose.HeaderKey]any{"kid": testKID},
		claims: map[string]any{
			"iss":   testClientID,
			"aud":   e.s.MaskinportenIssuer(),
			"scope": testScope,
			"iat":   now,
			"exp":   now + 60,
			"jti":   newUUID(),
			"authorization_details": []any{map[string]any{
				"type":           "urn:altinn:systemuser",
				"systemuser_org": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + testOrg},
			}},
		},
	}
}

// rar returns the grant's first authorization_details entry for editing.
func (g *grantSpec) rar() map[string]any {
	return g.claims["authorization_details"].([]any)[0].(map[string]any)
}

// sign serialises the grant with go-jose.
func (g *grantSpec) sign(t testing.TB) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range g.header {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: g.alg, Key: g.key}, opts)
	must(t, err)
	payload, err := json.Marshal(g.claims)
	must(t, err)
	obj, err := signer.Sign(payload)
	must(t, err)
	raw, err := obj.CompactSerialize()
	must(t, err)
	return raw
}

// grant signs e.spec() after applying mods.
func (e *mpEnv) grant(mods ...func(*grantSpec)) string {
	g := e.spec()
	for _, m := range mods {
		m(g)
	}
	return g.sign(e.t)
}

// tokenResp is a decoded /token reply, success or error.
type tokenResp struct {
	status           int
	header           http.Header
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

var mpCodeRe = regexp.MustCompile(`\((MP-\d{3})\) Correlation id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// code is the MP code in the description, "" if none; it fails the test on a malformed description.
func (r *tokenResp) code(t testing.TB) string {
	t.Helper()
	if m := mpCodeRe.FindStringSubmatch(r.ErrorDescription); m != nil {
		return m[1]
	}
	if !regexp.MustCompile(`Correlation id: [0-9a-f-]{36}$`).MatchString(r.ErrorDescription) {
		t.Errorf("error_description %q has no correlation id", r.ErrorDescription)
	}
	return ""
}

// post sends a token request with the given form.
func (e *mpEnv) postForm(form url.Values) *tokenResp {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.s.MaskinportenTokenURL(), strings.NewReader(form.Encode()))
	must(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// post sends a jwt-bearer token request with the assertion.
func (e *mpEnv) post(assertion string) *tokenResp {
	e.t.Helper()
	return e.postForm(url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}})
}

func (e *mpEnv) do(req *http.Request) *tokenResp {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(e.t, err)
	out := &tokenResp{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(body, out); err != nil {
		e.t.Fatalf("token reply %d is not JSON: %q", resp.StatusCode, body)
	}
	return out
}

// mustToken posts the assertion and fails unless a token comes back.
func (e *mpEnv) mustToken(assertion string) *tokenResp {
	e.t.Helper()
	r := e.post(assertion)
	if r.status != http.StatusOK || r.AccessToken == "" {
		e.t.Fatalf("token request: status %d %s: %s", r.status, r.Error, r.ErrorDescription)
	}
	return r
}

// verifyWithJWKS verifies a token with go-jose against the keys served at /jwk and returns its header
// members and claims.
func (e *mpEnv) verifyWithJWKS(tok string) (header, claims map[string]any) {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.s.MaskinportenIssuer() + "jwk")
	must(e.t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	must(e.t, json.NewDecoder(resp.Body).Decode(&set))
	obj, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	must(e.t, err)
	keys := set.Key(obj.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		e.t.Fatalf("kid %q: %d keys in /jwk", obj.Signatures[0].Header.KeyID, len(keys))
	}
	if k := keys[0].Key.(*rsa.PublicKey); k.N.BitLen() < 2048 {
		e.t.Fatalf("signing key has %d bits", k.N.BitLen())
	}
	payload, err := obj.Verify(keys[0])
	must(e.t, err)
	must(e.t, json.Unmarshal(payload, &claims))
	hb, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	must(e.t, err)
	must(e.t, json.Unmarshal(hb, &header))
	return header, claims
}

func sortedKeys[M ~map[string]V, V any](m M) []string { return slices.Sorted(maps.Keys(m)) }
