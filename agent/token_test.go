package agent

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

func TestTokenResponse(t *testing.T) {
	a := startAgent(t, nil)
	r := a.tokenFor(t, idA, secretA, nil)
	if r.status != 200 {
		t.Fatalf("got %v", r)
	}
	if !strings.HasPrefix(r.str("access_token"), "eyJcanary.") || r.str("token_type") != "Bearer" ||
		r.body["expires_in"] != float64(120) || r.str("scope") != "test:a1 test:a2" {
		t.Errorf("response fields wrong: token_type=%q expires_in=%v scope=%q", r.str("token_type"),
			r.body["expires_in"], r.str("scope"))
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
}

// TestD6CallerAllowlist: scopes, system users and token kind come from the caller's configuration;
// anything outside it is refused before any upstream call.
func TestD6CallerAllowlist(t *testing.T) {
	a := startAgent(t, nil)
	cases := []struct {
		name   string
		id     string
		secret string
		extra  url.Values
		status int
		code   string
		want   tokens.Request
	}{
		{name: "A default", id: idA, secret: secretA, status: 200, want: tokens.Request{
			Scopes: []string{"test:a1", "test:a2"}, Org: testOrg, Kind: tokens.KindMaskinporten}},
		{name: "A subset", id: idA, secret: secretA, extra: url.Values{"scope": {"test:a2"}}, status: 200,
			want: tokens.Request{Scopes: []string{"test:a2"}, Org: testOrg, Kind: tokens.KindMaskinporten}},
		{name: "A asks B's scope", id: idA, secret: secretA, extra: url.Values{"scope": {"test:a1 test:b1"}},
			status: 400, code: "invalid_scope"},
		{name: "A unknown scope", id: idA, secret: secretA, extra: url.Values{"scope": {"other:x"}},
			status: 400, code: "invalid_scope"},
		{name: "A asks B's system user", id: idA, secret: secretA, extra: url.Values{"system_user": {"second"}},
			status: 400, code: "invalid_request"},
		{name: "A unknown system user", id: idA, secret: secretA, extra: url.Values{"system_user": {"ghost"}},
			status: 400, code: "invalid_request"},
		{name: "B default system user and kind", id: idB, secret: secretB, status: 200, want: tokens.Request{
			Scopes: []string{"test:b1", "test:b2"}, Org: testOrg, ExternalRef: "ext-2", Kind: tokens.KindAltinn}},
		{name: "B picks default", id: idB, secret: secretB, extra: url.Values{"system_user": {"default"}},
			status: 200, want: tokens.Request{Scopes: []string{"test:b1"}, Org: testOrg, Kind: tokens.KindAltinn}},
		{name: "B scope not allowed for the system user", id: idB, secret: secretB,
			extra: url.Values{"system_user": {"default"}, "scope": {"test:b2"}}, status: 400, code: "invalid_scope"},
		{name: "B asks A's scope", id: idB, secret: secretB, extra: url.Values{"scope": {"test:a1"}},
			status: 400, code: "invalid_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.src.count()
			r := a.tokenFor(t, tc.id, tc.secret, tc.extra)
			if r.status != tc.status || r.str("error") != tc.code {
				t.Fatalf("got %v, want %d %s", r, tc.status, tc.code)
			}
			calls := a.src.count() - before
			if tc.status != 200 {
				if calls != 0 {
					t.Fatalf("refused request reached the token source %d times", calls)
				}
				return
			}
			got := a.src.last()
			if calls != 1 || !slices.Equal(got.Scopes, tc.want.Scopes) || got.Org != tc.want.Org ||
				got.ExternalRef != tc.want.ExternalRef || got.Kind != tc.want.Kind {
				t.Fatalf("source got %v (%d calls), want %v", got, calls, tc.want)
			}
		})
	}
}

func TestTokenRequestErrors(t *testing.T) {
	a := startAgent(t, nil)
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"no grant_type", req{form: url.Values{}, user: idA, pass: secretA}, 400, "invalid_request"},
		{"password grant", req{form: url.Values{"grant_type": {"password"}}, user: idA, pass: secretA}, 400,
			"unsupported_grant_type"},
		{"repeated parameter", req{body: "grant_type=client_credentials&grant_type=client_credentials",
			user: idA, pass: secretA}, 400, "invalid_request"},
		{"json body", req{body: `{"grant_type":"client_credentials"}`, ctype: "application/json", user: idA,
			pass: secretA}, 400, "invalid_request"},
		{"query string", req{path: "/oauth2/token?grant_type=client_credentials", form: url.Values{},
			user: idA, pass: secretA}, 400, "invalid_request"},
		{"bad grant before auth is still 401", req{form: url.Values{"grant_type": {"password"}}}, 401,
			"invalid_client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, tc.r)
			if r.status != tc.status || r.str("error") != tc.code {
				t.Fatalf("got %v, want %d %s", r, tc.status, tc.code)
			}
		})
	}
	if n := a.src.count(); n != 0 {
		t.Fatalf("token source called %d times", n)
	}
}

// TestD14UpstreamFailure: outages are 503 + Retry-After (the upstream's or 5 s), configuration errors
// 500, and the caller sees the upstream's code but not its description.
func TestD14UpstreamFailure(t *testing.T) {
	a := startAgent(t, nil)
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"outage with Retry-After", &tokens.Error{Op: "maskinporten token", StatusCode: 503, Temporary: true,
			RetryAfter: 30 * time.Second, Description: "upstream-body-detail"}, 503, "temporarily_unavailable", "30"},
		{"network error", &tokens.Error{Op: "maskinporten token", Temporary: true,
			Err: errors.New("dial tcp: connection refused")}, 503, "temporarily_unavailable", "5"},
		{"unknown error", errors.New("signer unavailable"), 503, "temporarily_unavailable", "5"},
		{"no system user", &tokens.Error{Op: "maskinporten token", StatusCode: 400, Code: "invalid_altinn_customer_configuration",
			MPCode: "MP-303", Description: "upstream-body-detail"}, 500, "server_error", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.src.set(func(f *fakeSource) { f.err = tc.err })
			r := a.tokenFor(t, idA, secretA, nil)
			if r.status != tc.status || r.str("error") != tc.code || r.header.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("got %v Retry-After=%q, want %d %s %q", r, r.header.Get("Retry-After"), tc.status,
					tc.code, tc.retryAfter)
			}
			if strings.Contains(r.raw, "upstream-body-detail") {
				t.Errorf("upstream description passed to the caller: %s", r.raw)
			}
			if te, ok := tc.err.(*tokens.Error); ok && te.MPCode != "" && !strings.Contains(r.raw, te.MPCode) {
				t.Errorf("upstream code %s missing: %s", te.MPCode, r.raw)
			}
		})
	}
}

// TestD14NeverExpiredToken: a token the source returns without lifetime left is not served.
func TestD14NeverExpiredToken(t *testing.T) {
	a := startAgent(t, nil)
	for _, life := range []time.Duration{-time.Second, time.Nanosecond, 500 * time.Millisecond} {
		a.src.set(func(f *fakeSource) { f.lifetime = life })
		r := a.tokenFor(t, idA, secretA, nil)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || r.str("access_token") != "" {
			t.Fatalf("lifetime %v: got %v, want 503 with Retry-After and no token", life, r)
		}
	}
	a.src.set(func(f *fakeSource) { f.lifetime = 2 * time.Second })
	if r := a.tokenFor(t, idA, secretA, nil); r.status != 200 || r.body["expires_in"] != float64(2) {
		t.Fatalf("a token with 2 s left: got %v", r)
	}
}
