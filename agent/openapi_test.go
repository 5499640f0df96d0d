package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// openAPIPath is the published description of the local API.
const openAPIPath = "../docs/openapi.yaml"

// loadOpenAPI reads and validates docs/openapi.yaml (an OpenAPI 3.1 document) and points its server at
// base, the live agent.
func loadOpenAPI(t *testing.T, base string) (*openapi3.T, routers.Router) {
	t.Helper()
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromFile(openAPIPath)
	if err != nil {
		t.Fatalf("load %s: %v", openAPIPath, err)
	}
	if !doc.IsOpenAPI31OrLater() || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("%s says openapi %q, want 3.1.x", openAPIPath, doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openAPIPath, err)
	}
	want := map[string]string{"/oauth2/token": http.MethodPost, "/oauth2/introspect": http.MethodPost,
		"/healthz": http.MethodGet, "/readyz": http.MethodGet, "/metrics": http.MethodGet}
	if n := doc.Paths.Len(); n != len(routes) {
		t.Errorf("%s describes %d paths, the agent serves %d", openAPIPath, n, len(routes))
	}
	for path, rt := range routes {
		if want[path] != rt.method {
			t.Errorf("route %s %s is not in this test's list: describe it in %s and add it here", rt.method, path, openAPIPath)
		}
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(rt.method) == nil {
			t.Errorf("%s does not describe %s %s", openAPIPath, rt.method, path)
			continue
		}
		if n := len(item.Operations()); n != 1 {
			t.Errorf("%s describes %d methods on %s; the agent serves only %s", openAPIPath, n, path, rt.method)
		}
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router over %s: %v", openAPIPath, err)
	}
	return doc, router
}

// liveCase is one request to the running agent and the status it must get.
type liveCase struct {
	name   string
	r      req
	status int
	valid  bool   // the request itself follows the description (validated before it is sent)
	before func() // changes the agent's situation first
}

// TestOpenAPILiveResponses runs a real agent on loopback and checks that every kind of response it gives
// (each success and each error class of every route) matches docs/openapi.yaml: status documented,
// documented headers present and well-formed, body valid against the schema (JSON Schema 2020-12).
func TestOpenAPILiveResponses(t *testing.T) {
	var readyErr error
	a := startAgent(t, func(o *Options) {
		o.FailureLimit = 3
		o.Config.System.ID = testSystemID
		o.SystemUserID = func(name string) string {
			if name == "default" {
				return testSystemUserID
			}
			return ""
		}
		o.Ready = func(context.Context) error { return readyErr }
		o.Key = KeyInfo{Backend: "tpm2", Exportable: false}
	})
	doc, router := loadOpenAPI(t, a.base)
	tokA := a.tokenFor(t, idA, secretA, nil).str("access_token")
	if tokA == "" {
		t.Fatal("no token served to A")
	}
	grant := url.Values{"grant_type": {"client_credentials"}}
	post := url.Values{"grant_type": {"client_credentials"}, "client_id": {idB}, "client_secret": {secretB}}
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []liveCase{
		{name: "token, client_secret_basic", r: req{form: grant, user: idA, pass: secretA}, status: 200, valid: true},
		{name: "token, client_secret_post", r: req{form: post}, status: 200, valid: true},
		{name: "token, scope and system_user", r: req{form: form("grant_type", "client_credentials", "scope",
			"test:b1", "system_user", "default"), user: idB, pass: secretB}, status: 200, valid: true},
		{name: "introspect, own token", r: req{path: "/oauth2/introspect", form: form("token", tokA), user: idA,
			pass: secretA}, status: 200, valid: true},
		{name: "introspect, unknown token", r: req{path: "/oauth2/introspect", form: form("token", "eyJnot-served"),
			user: idA, pass: secretA}, status: 200, valid: true},
		{name: "token, no grant_type", r: req{form: url.Values{}, user: idA, pass: secretA}, status: 400},
		{name: "token, password grant", r: req{form: form("grant_type", "password"), user: idA, pass: secretA},
			status: 400},
		{name: "token, scope outside the allowlist", r: req{form: form("grant_type", "client_credentials", "scope",
			"test:b2"), user: idA, pass: secretA}, status: 400, valid: true},
		{name: "token, query string", r: req{path: "/oauth2/token?grant_type=client_credentials", form: grant,
			user: idA, pass: secretA}, status: 400},
		{name: "token, JSON body", r: req{body: `{"grant_type":"client_credentials"}`, ctype: "application/json",
			user: idA, pass: secretA}, status: 400},
		{name: "introspect, no token", r: req{path: "/oauth2/introspect", form: url.Values{}, user: idA, pass: secretA},
			status: 400},
		{name: "token, wrong secret", r: req{form: grant, user: idA, pass: "wrong"}, status: 401, valid: true},
		{name: "token, no credentials", r: req{form: grant}, status: 401, valid: true},
		{name: "token, foreign Host (D2)", r: req{form: grant, user: idA, pass: secretA, host: "attacker.example"},
			status: 403},
		{name: "token, Origin (D3)", r: req{form: grant, user: idA, pass: secretA,
			header: map[string]string{"Origin": "https://attacker.example"}}, status: 403},
		{name: "healthz, proxy marker (D4)", r: req{method: http.MethodGet, path: "/healthz",
			header: map[string]string{"X-Forwarded-For": "192.0.2.1"}}, status: 403},
		{name: "token, body over 16 KiB", r: req{body: "grant_type=client_credentials&pad=" +
			strings.Repeat("x", 20<<10), user: idA, pass: secretA}, status: 413},
		{name: "token, upstream down", r: req{form: grant, user: idA, pass: secretA}, status: 503, valid: true,
			before: func() {
				a.src.set(func(f *fakeSource) {
					f.err = &tokens.Error{Op: "maskinporten token", StatusCode: 503, Temporary: true,
						RetryAfter: 7 * time.Second}
				})
			}},
		{name: "token, upstream refuses the client", r: req{form: form("grant_type", "client_credentials",
			"scope", "test:a1"), user: idA, pass: secretA}, status: 500, valid: true,
			before: func() {
				a.src.set(func(f *fakeSource) {
					f.err = &tokens.Error{Op: "maskinporten token", StatusCode: 400, Code: "invalid_client",
						MPCode: "MP-303"}
				})
			}},
		{name: "healthz", r: req{method: http.MethodGet, path: "/healthz"}, status: 200, valid: true},
		{name: "readyz, ready", r: req{method: http.MethodGet, path: "/readyz"}, status: 200, valid: true,
			before: func() {
				a.src.set(func(f *fakeSource) { f.err = nil })
				a.srv.noteUpstream("default", nil)                              // the MP-303 of the case before made it not ready
				a.srv.SetKeyExpiry("kid-1", a.clock.Now().Add(10*24*time.Hour)) // a warning in the reply
			}},
		{name: "readyz, not ready", r: req{method: http.MethodGet, path: "/readyz"}, status: 503, valid: true,
			before: func() { readyErr = errors.New(`system user(s) default not accepted yet: run "agent request status"`) }},
		{name: "metrics", r: req{method: http.MethodGet, path: "/metrics"}, status: 200, valid: true},
	}
	for _, tc := range cases {
		if tc.before != nil {
			tc.before()
		}
		hr, resp, body := a.live(t, tc.r)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, resp.StatusCode, tc.status, body)
			continue
		}
		checkHygiene(t, tc.name, resp.Header)
		if err := validateLive(router, hr, resp, body, tc.valid); err != nil {
			t.Errorf("%s: %d response does not match %s: %v", tc.name, resp.StatusCode, openAPIPath, err)
		}
	}

	// 429: the throttle after repeated failures (D7). Wrong secrets for B until it answers 429.
	throttled := false
	for i := 0; i < 50 && !throttled; i++ {
		hr, resp, body := a.live(t, req{form: grant, user: idB, pass: "wrong"})
		switch resp.StatusCode {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			throttled = true
			checkHygiene(t, "throttled", resp.Header)
			if err := validateLive(router, hr, resp, body, true); err != nil {
				t.Errorf("throttled: 429 response does not match %s: %v", openAPIPath, err)
			}
		default:
			t.Fatalf("wrong secret: status %d (%s), want 401 or 429", resp.StatusCode, body)
		}
	}
	if !throttled {
		t.Error("50 wrong secrets in a row were never answered 429")
	}

	// 404 and 405 have no operation to route to: their bodies must still be the documented Error.
	errSchema := doc.Components.Schemas["Error"].Value
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"unknown path", req{method: http.MethodGet, path: "/admin"}, 404},
		{"GET on the token route", req{method: http.MethodGet, path: "/oauth2/token"}, 405},
	} {
		_, resp, body := a.live(t, tc.r)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			continue
		}
		checkHygiene(t, tc.name, resp.Header)
		if err := validateBody(errSchema, body); err != nil {
			t.Errorf("%s: body is not the documented Error: %v", tc.name, err)
		}
	}
	if _, resp, _ := a.live(t, req{method: http.MethodGet, path: "/oauth2/token"}); resp.Header.Get("Allow") != "POST" {
		t.Errorf("405 Allow = %q, want POST", resp.Header.Get("Allow"))
	}
}

// TestOpenAPIValidatorBites shows that the live check can fail: a token response missing expires_in, an
// introspection with an undocumented field and a 503 without Retry-After are each rejected.
func TestOpenAPIValidatorBites(t *testing.T) {
	a := startAgent(t, nil)
	_, router := loadOpenAPI(t, a.base)
	grant := url.Values{"grant_type": {"client_credentials"}}
	hr, resp, body := a.live(t, req{form: grant, user: idA, pass: secretA})
	if err := validateLive(router, hr, resp, body, true); err != nil {
		t.Fatalf("the real response fails: %v", err)
	}
	bad := []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"no expires_in", 200, resp.Header, `{"access_token":"x","token_type":"Bearer","scope":"test:a1"}`},
		{"token_type mac", 200, resp.Header, `{"access_token":"x","token_type":"mac","expires_in":5,"scope":""}`},
		{"extra field", 200, resp.Header, `{"access_token":"x","token_type":"Bearer","expires_in":5,"scope":"","refresh_token":"r"}`},
		{"no Cache-Control", 200, http.Header{"Content-Type": {"application/json"}}, string(body)},
		{"503 without Retry-After", 503, resp.Header, `{"error":"temporarily_unavailable"}`},
		{"undocumented status", 418, resp.Header, `{"error":"server_error"}`},
		{"unknown error code", 400, resp.Header, `{"error":"teapot"}`},
	}
	for _, tc := range bad {
		fake := &http.Response{StatusCode: tc.status, Header: tc.header}
		if err := validateLive(router, hr, fake, []byte(tc.body), false); err == nil {
			t.Errorf("%s: accepted, want a validation error", tc.name)
		}
	}
}

// validateLive checks the response to hr against the description; with requestToo the request as well.
func validateLive(router routers.Router, hr *http.Request, resp *http.Response, body []byte, requestToo bool) error {
	ctx := context.Background()
	route, params, err := router.FindRoute(hr)
	if err != nil {
		return err
	}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if requestToo {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return errors.Join(errors.New("the request does not follow the description"), err)
		}
	}
	return openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true,
			MultiError: true}})
}

// validateBody checks a JSON body against one schema of the description.
func validateBody(s *openapi3.Schema, body []byte) error {
	v, err := decodeJSONBody(body)
	if err != nil {
		return err
	}
	return s.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

func decodeJSONBody(body []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkHygiene checks the D16 headers every response carries, as the description's preamble says.
func checkHygiene(t *testing.T, name string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache",
		"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q (described in %s)", name, k, got, want, openAPIPath)
		}
	}
}
