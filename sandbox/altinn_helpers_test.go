package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"

	jose "github.com/go-jose/go-jose/v4"
)

// The test harness of the Altinn half: a sandbox on a real loopback listener with a settable clock, two
// vendors with Maskinporten clients, tokens minted through the sandbox's own Maskinporten /token with
// grants signed by go-jose, and helpers that call the Altinn API and decode its replies.

const (
	altOrg     = "310000001" // the vendor and owner of the tests
	altOther   = "310000002" // another vendor
	altUnknown = "310000009" // not in the Register
	altSys     = altOrg + "_sap-local"
	altKID     = "alt-key-1"
)

// Altinn scopes, all granted to every test client.
var altAllScopes = []string{scopeRegisterWrite, scopeRequestWrite, scopeRequestRead}

// altClientID is the Maskinporten client id of an org in these tests.
func altClientID(org string) string { return "client-" + org }

// altKey is the one client key of these tests (generating RSA-2048 costs ~100 ms).
var altKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// altEnv is one started sandbox with orgs altOrg and altOther in the Register, each with a client.
type altEnv struct {
	t     *testing.T
	s     *Sandbox
	clock *testClock
	log   *testlog.Buffer
}

func newAltEnv(t *testing.T, opts ...func(*Options)) *altEnv {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 7, 20, 8, 0, 0, 0, time.UTC)}
	logs := &testlog.Buffer{}
	o := Options{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range opts {
		f(&o)
	}
	s := New(o)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.AddOrganization(altOrg, "Eksempel AS")
	s.AddOrganization(altOther, "Annen AS")
	for _, org := range []string{altOrg, altOther} {
		err := s.RegisterClient(Client{ID: altClientID(org), Org: org, Scopes: append(slices.Clone(altAllScopes), "altinn:x"),
			Keys: []ClientKey{{KID: altKID, Public: &altKey().PublicKey}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return &altEnv{t: t, s: s, clock: clock, log: logs}
}

// grant signs a Maskinporten JWT grant for org's client with go-jose; rar is nil for a plain token.
func (e *altEnv) grant(org string, rar map[string]any, scopes ...string) string {
	e.t.Helper()
	return e.grantWith(org, func(c map[string]any) {
		if rar != nil {
			c["authorization_details"] = []any{rar}
		}
	}, scopes...)
}

// grantWith signs a grant whose claims mod may change.
func (e *altEnv) grantWith(org string, mod func(claims map[string]any), scopes ...string) string {
	e.t.Helper()
	now := e.clock.Now().Unix()
	claims := map[string]any{"iss": altClientID(org), "aud": e.s.MaskinportenIssuer(), "scope": strings.Join(scopes, " "),
		"iat": now, "exp": now + 60, "jti": newUUID()}
	mod(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: altKey()},
		(&jose.SignerOptions{}).WithHeader("kid", altKID))
	altMust(e.t, err)
	payload, err := json.Marshal(claims)
	altMust(e.t, err)
	obj, err := signer.Sign(payload)
	altMust(e.t, err)
	raw, err := obj.CompactSerialize()
	altMust(e.t, err)
	return raw
}

// token posts a grant to the sandbox's Maskinporten and returns the access token, or "" and the
// error body.
func (e *altEnv) token(assertion string) (string, string) {
	e.t.Helper()
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {assertion}}
	resp, err := http.PostForm(e.s.MaskinportenTokenURL(), form)
	altMust(e.t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", string(body)
	}
	var r struct {
		AccessToken string `json:"access_token"`
	}
	altMust(e.t, json.Unmarshal(body, &r))
	return r.AccessToken, ""
}

// mp returns a plain Maskinporten token of org's client with scopes (default: all Altinn scopes).
func (e *altEnv) mp(org string, scopes ...string) string {
	e.t.Helper()
	if len(scopes) == 0 {
		scopes = altAllScopes
	}
	tok, errBody := e.token(e.grant(org, nil, scopes...))
	if tok == "" {
		e.t.Fatalf("sandbox Maskinporten refused a plain grant: %s", errBody)
	}
	return tok
}

// systemUserToken asks Maskinporten for a system-user token of altOrg's client for owner and ref ("" =
// none sent); it returns the token, or "" and the error body.
func (e *altEnv) systemUserToken(owner, ref string) (string, string) {
	e.t.Helper()
	rar := map[string]any{"type": "urn:altinn:systemuser",
		"systemuser_org": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + owner}}
	if ref != "" {
		rar["externalRef"] = ref
	}
	return e.token(e.grant(altOrg, rar, "altinn:x"))
}

// altinnToken signs claims with the sandbox's Altinn key: iss defaults to the Altinn issuer, exp to
// now+5m. It lets tests send consumer claims Maskinporten would never issue.
func (e *altEnv) altinnToken(claims map[string]any) string {
	e.t.Helper()
	c := map[string]any{"iss": e.s.AltinnIssuer(), "exp": e.clock.Now().Add(5 * time.Minute).Unix(),
		"scope":    strings.Join(altAllScopes, " "),
		"consumer": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + altOrg}}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok, err := e.s.altinn.signToken(c)
	altMust(e.t, err)
	return tok
}

// altResp is a reply of the Altinn API.
type altResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends method to {altinn}/authentication/api/v1/<path> with a bearer token ("" = none). body is
// nil, a string of raw JSON, or a value to marshal.
func (e *altEnv) call(method, path, token string, body any) altResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		altMust(e.t, err)
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.s.URL() + altinnAPI + path
	}
	req, err := http.NewRequest(method, u, rd)
	altMust(e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	altMust(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	altMust(e.t, err)
	return altResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

var altTraceRe = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)

// problem decodes a v5 ProblemDetails and checks its shape: type, title, status = HTTP status, code,
// traceId, and the problem+json content type.
func (r altResp) problem(t *testing.T) altinnProblem {
	t.Helper()
	var p altinnProblem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("reply %d is not a problem: %v: %s", r.Status, err, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("problem Content-Type = %q", ct)
	}
	if p.Status != r.Status || p.Type != "urn:altinn:error:"+p.Code || p.Title == "" || !altTraceRe.MatchString(p.TraceID) {
		t.Errorf("malformed problem: %s", r.Body)
	}
	return p
}

// code expects a problem with status and code.
func (r altResp) code(t *testing.T, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if p := r.problem(t); p.Code != code {
		t.Fatalf("code = %s, want %s; body %s", p.Code, code, r.Body)
	}
}

// vld expects one 400 validation problem and returns its codes, sorted, and all paths by code.
func (r altResp) vld(t *testing.T) ([]string, map[string][]string) {
	t.Helper()
	r.code(t, http.StatusBadRequest, "STD-00000")
	p := r.problem(t)
	var codes []string
	paths := map[string][]string{}
	for _, v := range p.ValidationErrors {
		if v.Title == "" || len(v.Paths) == 0 {
			t.Errorf("validation error without title or paths: %+v", v)
		}
		codes = append(codes, v.Code)
		paths[v.Code] = append(paths[v.Code], v.Paths...)
	}
	slices.Sort(codes)
	return slices.Compact(codes), paths
}

// empty expects status with an empty body.
func (r altResp) empty(t *testing.T, status int) {
	t.Helper()
	if r.Status != status || len(r.Body) != 0 {
		t.Fatalf("got %d %q, want %d with an empty body", r.Status, r.Body, status)
	}
}

// json decodes a 2xx JSON reply into v.
func (r altResp) json(t *testing.T, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// altSystemBody is a valid RegisterSystemRequest for id of vendor org.
func altSystemBody(id, org string, clientIDs ...string) map[string]any {
	return map[string]any{
		"id":          id,
		"vendor":      map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + org},
		"name":        map[string]any{"nb": "SAP lokal", "nn": "SAP lokal", "en": "SAP local"},
		"description": map[string]any{"nb": "Eget system", "nn": "Eige system", "en": "Own system"},
		"rights":      []any{altRight(ResourceExample)},
		"clientId":    clientIDs,
		"isVisible":   false,
	}
}

// altRight is a right on one resource.
func altRight(resource string) map[string]any {
	return map[string]any{"resource": []any{map[string]any{"id": "urn:altinn:resource", "value": resource}}}
}

// altRequestBody is a valid request for altSys by altOrg; ref "" omits externalRef.
func altRequestBody(ref string) map[string]any {
	b := map[string]any{"systemId": altSys, "partyOrgNo": altOrg, "rights": []any{altRight(ResourceExample)}}
	if ref != "" {
		b["externalRef"] = ref
	}
	return b
}

// registerSystem registers altSys (rights: ResourceExample; client: altOrg's) over HTTP.
func (e *altEnv) registerSystem() {
	e.t.Helper()
	var uuid string
	e.call("POST", "systemregister/vendor", e.mp(altOrg), altSystemBody(altSys, altOrg, altClientID(altOrg))).json(e.t, 200, &uuid)
}

// postRequest posts a request body as altOrg.
func (e *altEnv) postRequest(body any) altResp {
	e.t.Helper()
	return e.call("POST", "systemuser/request/vendor", e.mp(altOrg), body)
}

func altMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// altEqualJSON compares two values by their JSON encoding.
func altEqualJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
