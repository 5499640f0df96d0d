package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testJWT is an unsigned JWT with the given claims (the drive never verifies signatures).
func testJWT(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(b) + ".c2ln"
}

func TestLoopbackURL(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.0.0.1:8080/sandbox/", true},
		{"http://localhost:8080", false},
		{"http://10.0.0.1:8080", false},
		{"http://127.0.0.1", false},
		{"https://127.0.0.1:8443", false},
		{"http://example.com:80", false},
	} {
		if _, err := loopbackURL(tc.in); (err == nil) != tc.ok {
			t.Errorf("loopbackURL(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var l latencies
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(101-i)*time.Millisecond) // unsorted on purpose
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := l.pct(tc.p); got != tc.want {
			t.Errorf("p%v = %s, want %s", tc.p, got, tc.want)
		}
	}
	if l.max() != 100*time.Millisecond || latencies(nil).pct(50) != 0 || latencies(nil).max() != 0 {
		t.Error("max or empty percentiles wrong")
	}
}

func TestResultValid(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := testJWT(t, map[string]any{"exp": now.Unix() + 30, "iat": now.Unix() - 30})
	for _, tc := range []struct {
		name string
		r    result
		ok   bool
	}{
		{"valid", result{status: 200, expiresIn: 30, token: good}, true},
		{"503", result{status: 503, errCode: "temporarily_unavailable"}, false},
		{"expires_in 0", result{status: 200, expiresIn: 0, token: good}, false},
		{"exp past", result{status: 200, expiresIn: 5, token: testJWT(t, map[string]any{"exp": now.Unix() - 1})}, false},
		{"exp now", result{status: 200, expiresIn: 5, token: testJWT(t, map[string]any{"exp": now.Unix()})}, false},
		{"no exp", result{status: 200, expiresIn: 5, token: testJWT(t, map[string]any{"iat": 1})}, false},
		{"not a JWT", result{status: 200, expiresIn: 5, token: "opaque"}, false},
	} {
		if err := tc.r.valid(now); (err == nil) != tc.ok {
			t.Errorf("%s: valid = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if !issuedAfter(good, now.Add(-30*time.Second)) || issuedAfter(good, now) {
		t.Error("issuedAfter compares iat wrongly")
	}
}

// TestTokenKeepsSecrets: "token" authenticates with the secret from the file and prints only sizes:
// neither the caller secret nor the token it got reach its output, nor its error on a refusal.
func TestTokenKeepsSecrets(t *testing.T) {
	const secret = "canary-secret-4f1c9a"
	tok := testJWT(t, map[string]any{"exp": time.Now().Unix() + 60})
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, s, ok := r.BasicAuth()
		if !ok || s != secret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 59, "scope": "s:" + id})
	}))
	defer agent.Close()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("wrong-"+secret), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "--agent", agent.URL, "--secret-file", good, "--clients", "app"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if want := "token_bytes=" + strconv.Itoa(len(tok)) + " expires_in=59 scope=s:app"; strings.TrimSpace(out.String()) != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	err := run(context.Background(), []string{"token", "--agent", agent.URL, "--secret-file", bad}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong secret: %v, want the 401", err)
	}
	for _, text := range []string{out.String(), err.Error()} {
		if strings.Contains(text, secret) || strings.Contains(text, tok) {
			t.Errorf("a secret or token leaked: %q", text)
		}
	}
}

// TestDrillReport: the outage report counts cached tokens, 503s with and without Retry-After and
// expired tokens, and its verdicts follow them.
func TestDrillReport(t *testing.T) {
	t0 := time.Now().Truncate(time.Second).Add(-time.Minute)
	exp := t0.Add(20 * time.Second)
	cached := testJWT(t, map[string]any{"exp": exp.Unix(), "iat": t0.Add(-time.Second).Unix()})
	tc := t0.Add(30 * time.Second)
	fresh := testJWT(t, map[string]any{"exp": tc.Add(time.Minute).Unix(), "iat": tc.Add(time.Second).Unix()})
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	results := []result{
		{sent: at(time.Second), status: 200, expiresIn: 19, token: cached},
		{sent: at(14 * time.Second), status: 200, expiresIn: 6, token: cached},
		{sent: at(16 * time.Second), status: 503, retryAfter: "5"},
		{sent: at(17 * time.Second), status: 503}, // no Retry-After: a MISS
		{sent: at(31 * time.Second), latency: 100 * time.Millisecond, status: 200, expiresIn: 59, token: fresh},
	}
	d := &drill{c: common{ids: []string{"a"}}, minValidity: 5 * time.Second, requestTimeout: 10 * time.Second}
	k := drillKinds(3 * time.Second)["503"]
	var out bytes.Buffer
	d.report(&out, k, results, sandboxStats{TokenRequests: 3}, t0, tc)
	text := out.String()
	for _, want := range []string{
		"2 replies", "then 503: 2 replies (1 without Retry-After)", "expired tokens served: 0",
		"cached tokens while they last, then 503 with Retry-After: MISS", "never a hang beyond the request timeout: PASS",
		"upstream request rate bounded by the backoff: PASS", "resumed within 2 s of the upstream coming back: PASS",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

// TestReadCache: the agent's /metrics is read into the cache counters and the slow-request count.
func TestReadCache(t *testing.T) {
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`# HELP systemuser_agent_token_cache_misses_total x
# TYPE systemuser_agent_token_cache_misses_total counter
systemuser_agent_token_cache_misses_total 3
systemuser_agent_token_cache_hits_total 1.2e+06
systemuser_agent_token_cache_fetches_total 40
systemuser_agent_token_source_seconds_bucket{le="0.0001"} 1.19e+06
systemuser_agent_token_source_seconds_bucket{le="0.001"} 1.2e+06
systemuser_agent_token_source_seconds_count 1.200003e+06
`))
	}))
	defer agent.Close()
	c, err := readCache(context.Background(), agent.URL, "0.001")
	if err != nil {
		t.Fatal(err)
	}
	if c.misses != 3 || c.hits != 1.2e6 || c.fetches != 40 || c.slow != 3 || c.served != 1200003 {
		t.Errorf("read %+v", c)
	}
	if _, err := readCache(context.Background(), agent.URL, "0.25"); err == nil {
		t.Error("a missing bucket was not reported")
	}
}
