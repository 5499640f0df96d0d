package agent

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// refusedCase is one request that must be refused before routing, with valid credentials.
type refusedCase struct {
	name   string
	host   string // "%p" is replaced by the agent's port
	header map[string]string
}

// runRefused sends each case to /oauth2/token with A's valid secret and expects 403, no upstream call,
// and a control request without the marker succeeding (so the 403 is the defence's doing).
func runRefused(t *testing.T, cases []refusedCase) {
	a := startAgent(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host := strings.ReplaceAll(tc.host, "%p", strconv.Itoa(a.port))
			hdr := map[string]string{}
			for k, v := range tc.header {
				hdr[k] = strings.ReplaceAll(v, "%p", strconv.Itoa(a.port))
			}
			before := a.src.count()
			r := a.do(t, req{form: url.Values{"grant_type": {"client_credentials"}}, user: idA, pass: secretA,
				host: host, header: hdr})
			if r.status != http.StatusForbidden || r.str("error") != "access_denied" {
				t.Fatalf("got %v, want 403 access_denied", r)
			}
			if n := a.src.count() - before; n != 0 {
				t.Fatalf("token source called %d times for a refused request", n)
			}
		})
	}
	if r := a.tokenFor(t, idA, secretA, nil); r.status != http.StatusOK {
		t.Fatalf("control request without markers: %v", r)
	}
}

func TestD2HostAllowlist(t *testing.T) {
	runRefused(t, []refusedCase{
		{name: "attacker name", host: "attacker.example:%p"},
		{name: "rebound name", host: "rebind.example:%p"},
		{name: "other port", host: "127.0.0.1:1"},
		{name: "no port", host: "127.0.0.1"},
		{name: "localhost other port", host: "localhost:1"},
		{name: "other loopback ip", host: "127.0.0.2:%p"},
		{name: "localhost suffix", host: "localhost.attacker.example:%p"},
		{name: "ipv4 mapped", host: "[::ffff:127.0.0.1]:%p"},
	})
	// Every allowed form works.
	a := startAgent(t, nil)
	for _, h := range []string{"127.0.0.1:%p", "localhost:%p", "LOCALHOST:%p", "[::1]:%p"} {
		host := strings.ReplaceAll(h, "%p", strconv.Itoa(a.port))
		r := a.do(t, req{form: url.Values{"grant_type": {"client_credentials"}}, user: idA, pass: secretA, host: host})
		if r.status != http.StatusOK {
			t.Errorf("Host %s: got %v, want 200", host, r)
		}
	}
}

func TestD3BrowserRequestsRefused(t *testing.T) {
	const self = "127.0.0.1:%p"
	runRefused(t, []refusedCase{
		{name: "origin cross", host: self, header: map[string]string{"Origin": "http://attacker.example"}},
		{name: "origin same", host: self, header: map[string]string{"Origin": "http://127.0.0.1:%p"}},
		{name: "origin null", host: self, header: map[string]string{"Origin": "null"}},
		{name: "origin empty", host: self, header: map[string]string{"Origin": ""}},
		{name: "referer", host: self, header: map[string]string{"Referer": "http://attacker.example/x"}},
		{name: "sec-fetch-site cross-site", host: self, header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "sec-fetch-site same-site", host: self, header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "sec-fetch-site same-origin", host: self, header: map[string]string{"Sec-Fetch-Site": "same-origin"}},
	})
	// Sec-Fetch-Site: none (a user typing the URL) is not a cross-origin marker.
	a := startAgent(t, nil)
	r := a.do(t, req{form: url.Values{"grant_type": {"client_credentials"}}, user: idA, pass: secretA,
		header: map[string]string{"Sec-Fetch-Site": "none"}})
	if r.status != http.StatusOK {
		t.Fatalf("Sec-Fetch-Site none: got %v, want 200", r)
	}
}

func TestD4ProxyMarkersRefused(t *testing.T) {
	const self = "127.0.0.1:%p"
	var cases []refusedCase
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Via", "X-Forwarded-Proto",
		"X-Real-Ip"} {
		cases = append(cases, refusedCase{name: h, host: self, header: map[string]string{h: "127.0.0.1"}})
	}
	runRefused(t, cases)
}

// TestD3CrossOriginProtectionInsufficient shows why D2/D3 exist: Go's http.CrossOriginProtection passes
// a rebound POST (Origin and Host both rebind.example:p) and a cross-site GET, which the agent refuses.
func TestD3CrossOriginProtectionInsufficient(t *testing.T) {
	a := startAgent(t, nil)
	cop := http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	p := strconv.Itoa(a.port)
	cases := []struct {
		name, method, host string
		header             map[string]string
	}{
		{"rebound POST", http.MethodPost, "rebind.example:" + p,
			map[string]string{"Origin": "http://rebind.example:" + p}},
		{"cross-site GET", http.MethodGet, "127.0.0.1:" + p,
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://attacker.example"}},
		{"rebound GET, only Host", http.MethodGet, "rebind.example:" + p, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRequest(tc.method, "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			hr.Host = tc.host
			for k, v := range tc.header {
				hr.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			cop.ServeHTTP(rec, hr)
			if rec.Code != http.StatusOK {
				t.Fatalf("CrossOriginProtection answered %d; this test documents that it passes the request", rec.Code)
			}
			r := a.do(t, req{method: tc.method, form: url.Values{"grant_type": {"client_credentials"}},
				user: idA, pass: secretA, host: tc.host, header: tc.header})
			if r.status != http.StatusForbidden {
				t.Fatalf("agent: got %v, want 403", r)
			}
		})
	}
	if n := a.src.count(); n != 0 {
		t.Fatalf("token source called %d times", n)
	}
}

// TestD16ResponseHygiene checks the headers on every kind of response, errors included, and that no
// Access-Control-Allow-* header is ever sent (OPTIONS is 405).
func TestD16ResponseHygiene(t *testing.T) {
	a := startAgent(t, nil)
	grant := url.Values{"grant_type": {"client_credentials"}}
	cases := []struct {
		name   string
		r      req
		status int
	}{
		{"token ok", req{form: grant, user: idA, pass: secretA}, 200},
		{"token 401", req{form: grant, user: idA, pass: "wrong"}, 401},
		{"token 400", req{form: url.Values{"grant_type": {"password"}}, user: idA, pass: secretA}, 400},
		{"token 403 host", req{form: grant, user: idA, pass: secretA, host: "attacker.example"}, 403},
		{"token 403 origin", req{form: grant, header: map[string]string{"Origin": "http://x"}}, 403},
		{"token 405 GET", req{method: "GET"}, 405},
		{"token 405 OPTIONS", req{method: "OPTIONS", header: map[string]string{
			"Access-Control-Request-Method": "POST"}}, 405},
		{"token 413", req{body: "a=" + strings.Repeat("x", 20<<10), user: idA, pass: secretA}, 413},
		{"introspect ok", req{path: "/oauth2/introspect", form: url.Values{"token": {"x"}}, user: idA,
			pass: secretA}, 200},
		{"healthz", req{method: "GET", path: "/healthz"}, 200},
		{"readyz", req{method: "GET", path: "/readyz"}, 200},
		{"metrics", req{method: "GET", path: "/metrics"}, 200},
		{"metrics 405", req{method: "POST", path: "/metrics"}, 405},
		{"404", req{method: "GET", path: "/nope"}, 404},
	}
	want := map[string]string{
		"Cache-Control":           "no-store",
		"Pragma":                  "no-cache",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do(t, tc.r)
			if r.status != tc.status {
				t.Fatalf("got %v, want %d", r, tc.status)
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			ct := r.header.Get("Content-Type")
			if tc.r.path == "/metrics" && tc.status == 200 {
				if !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("metrics Content-Type = %q", ct)
				}
			} else if ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			for k := range r.header {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("CORS header %s sent", k)
				}
			}
		})
	}
}
