package agent

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// jwtCanary makes a JWT-shaped token with this jti and registers it as a canary.
func jwtCanary(jti string) string {
	enc := base64.RawURLEncoding.EncodeToString
	v := enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"jti":"`+jti+`","scope":"test:a1"}`)) + "." +
		strings.TrimPrefix(canaryToken(), "eyJcanary.")
	canaries.add("served JWT", v, "")
	return v
}

var auditLine = regexp.MustCompile(`msg="token issued to caller" client_id=(\S+) os_account=(\S+) ` +
	`system_user=(\S+) external_ref=(\S*) organization=(\S+) kind=(\S+) scope=("[^"]*"|\S+) ` +
	`token_jti=(\S*) token_sha256=([0-9a-f]{16}) expires_at=(\S+)`)

// TestD20AuditTrail: every token handed to a caller is logged at Info once per caller and token, with
// the caller, system user, scope, jti, digest and expiry; cache hits of the same token for the same
// caller add no line; the token itself never appears. Lines are matched to the tokens issued.
func TestD20AuditTrail(t *testing.T) {
	a := startAgent(t, nil)
	tok1 := jwtCanary("jti-one")
	a.src.set(func(f *fakeSource) { f.fixed = tok1 }) // as a cache hands out the same token
	type issuedTok struct{ client, token, systemUser string }
	var got []issuedTok
	for range 3 {
		r := a.tokenFor(t, idA, secretA, nil)
		if r.status != http.StatusOK {
			t.Fatalf("A: %v", r)
		}
		got = append(got, issuedTok{idA, r.str("access_token"), "default"})
	}
	r := a.tokenFor(t, idB, secretB, nil)
	if r.status != http.StatusOK {
		t.Fatalf("B: %v", r)
	}
	got = append(got, issuedTok{idB, r.str("access_token"), "second"})
	tok2 := jwtCanary("jti-two")
	a.src.set(func(f *fakeSource) { f.fixed = tok2 })
	a.clock.Advance(time.Second)
	for range 2 {
		r := a.tokenFor(t, idA, secretA, nil)
		got = append(got, issuedTok{idA, r.str("access_token"), "default"})
	}
	a.src.set(func(f *fakeSource) { f.fixed = "" }) // a token that is no JWT: digest only
	r = a.tokenFor(t, idA, secretA, nil)
	got = append(got, issuedTok{idA, r.str("access_token"), "default"})

	// Expected: one line per distinct (caller, token).
	want := map[[2]string]issuedTok{}
	for _, g := range got {
		want[[2]string{g.client, tokenDigest(g.token)}] = g
	}
	logs := a.logs.String()
	lines := auditLine.FindAllStringSubmatch(logs, -1)
	if len(lines) != len(want) || len(want) != 4 {
		t.Fatalf("%d audit lines for %d (caller, token) pairs, want 4 each:\n%s", len(lines), len(want), logs)
	}
	for _, m := range lines {
		g, ok := want[[2]string{m[1], m[9]}]
		if !ok {
			t.Errorf("audit line matches no issued token: %s", m[0])
			continue
		}
		delete(want, [2]string{m[1], m[9]})
		if m[3] != g.systemUser || m[5] != testOrg || m[2] != "unknown" || m[10] == "" {
			t.Errorf("audit line %q: want system user %s, org %s, os_account unknown, an expiry", m[0], g.systemUser, testOrg)
		}
		switch g.token {
		case tok1:
			if m[8] != "jti-one" {
				t.Errorf("jti %q, want jti-one", m[8])
			}
		case tok2:
			if m[8] != "jti-two" {
				t.Errorf("jti %q, want jti-two", m[8])
			}
		}
	}
	if !strings.Contains(logs, "level=INFO msg=\"token issued to caller\"") {
		t.Error("audit lines are not at Info")
	}
	for _, g := range got {
		if strings.Contains(logs, g.token) {
			t.Fatal("a served token appears in the log")
		}
	}
}

// BenchmarkAuditHit is the audit check on a cache hit for a caller that already got the token: no
// allocation, no lock.
func BenchmarkAuditHit(b *testing.B) {
	a := &Server{now: time.Now, log: slog.New(slog.DiscardHandler)}
	c := &caller{id: idA}
	r, _ := http.NewRequest(http.MethodPost, "/oauth2/token", nil)
	tok := tokens.Token{AccessToken: jwtCanary("bench"), Expiry: time.Now().Add(time.Minute)}
	su := testConfig().SystemUsers[0]
	req := tokens.Request{Scopes: []string{"test:a1"}, Org: testOrg, Kind: tokens.KindMaskinporten}
	a.auditToken(r, c, su, req, "test:a1", tok)
	b.ReportAllocs()
	for b.Loop() {
		a.auditToken(r, c, su, req, "test:a1", tok)
	}
}
